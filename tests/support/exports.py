"""Exports in tests: starting one as a user allowed to export, downloading its file."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from gateway.services import Services
from tests.support.client import GraphQLClient, Tenant
from tests.support.roles import make_role, make_user

__all__ = ["START", "download", "exporter", "lines"]

START = """
mutation($sheet: String!, $format: ExportFormat!, $filter: [ExportFilterInput!],
         $fields: [String!], $after: ID) {
  startExport(datasheet: $sheet, format: $format, filter: $filter, fields: $fields,
              afterId: $after) { id url total columns expiresAt }
}
"""


async def exporter(
    admin: GraphQLClient, services: Services, tenant: Tenant, role: str, **grant: Any
) -> tuple[GraphQLClient, dict[str, Any]]:
    """A user of *tenant* whose only role is *role* (made with *grant*) and who may export;
    the client and the user."""
    await make_role(admin, role, **grant)
    return await make_user(
        admin, services, tenant, f"{role}@export.example", [role], can_export=True
    )


async def download(http: httpx.AsyncClient, url: str) -> httpx.Response:
    """GET an export's signed URL from the in-process gateway."""
    parts = urlsplit(url)
    return await http.get(f"{parts.path}?{parts.query}")


def lines(response: httpx.Response) -> list[dict[str, Any]]:
    """The records of an NDJSON export's response."""
    assert response.status_code == 200, response.text
    return [orjson.loads(line) for line in response.content.splitlines()]
