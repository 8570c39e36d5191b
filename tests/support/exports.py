"""Exports in tests: starting one as a user allowed to export, downloading its file."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from gateway.services import Services
from gateway.settings import Settings
from regions.routing import database_name
from tests.support.client import GraphQLClient, Tenant
from tests.support.raw import plain_client
from tests.support.roles import make_role, make_user

__all__ = ["START", "download", "export_done", "exporter", "lines"]

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


async def export_done(settings: Settings, tenant_id: str, user_id: str) -> dict[str, Any] | None:
    """The audit entry of the end of *user_id*'s download (its rows, whether complete), read
    from the tenant's database (region ``eu``) as it is stored."""
    raw = plain_client(settings, "eu")
    try:
        found: dict[str, Any] | None = await raw[database_name(tenant_id)]["audit"].find_one(
            {"actor.id": user_id, "op": "export_done"}
        )
        return found
    finally:
        await raw.aclose()
