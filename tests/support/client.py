"""Clients of the in-process gateway: a tenant and its admin's token, GraphQL as one user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette

from gateway.services import Services

__all__ = ["GraphQLClient", "Tenant", "asgi_client", "make_tenant"]


@dataclass(frozen=True)
class Tenant:
    id: str
    admin_id: str
    token: str


class GraphQLClient:
    """Posts GraphQL documents as one tenant's user."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http = http
        self.token = token

    async def raw(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        return await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"authorization": f"Bearer {self.token}"},
        )

    async def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.raw(query, variables)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def ok(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await self(query, variables)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data


def asgi_client(app: Starlette, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """An HTTP client of *app* in this process, its requests coming from *address*."""
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://gateway")


async def make_tenant(services: Services, country: str, name: str = "Test Org") -> Tenant:
    info, admin = await services.store.create_tenant(name, country, f"admin-{country}@example.com")
    token = services.tokens.issue(info.id, admin.id, ["admin"])
    return Tenant(info.id, admin.id, token)
