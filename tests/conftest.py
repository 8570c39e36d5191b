"""Fixtures over real servers: FerretDB for EU and US and Redis on free loopback ports,
started once per session (or the servers named by ``ENCLAVE_EU__MONGODB_URI``,
``ENCLAVE_US__MONGODB_URI`` and ``ENCLAVE_REDIS_URL``), and the gateway in process."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.dev.servers import LocalStack
from gateway.services import Services
from gateway.settings import Settings
from regions.catalog import RegionConfig, write_local_master_key
from storage.signing import generate_seal_key_file

EXTERNAL = all(
    os.environ.get(v)
    for v in ("ENCLAVE_EU__MONGODB_URI", "ENCLAVE_US__MONGODB_URI", "ENCLAVE_REDIS_URL")
)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack | None]:
    if EXTERNAL:
        yield None
        return
    local = LocalStack.create(tmp_path_factory.mktemp("stack"))
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def settings(stack: LocalStack | None, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    keys = tmp_path_factory.mktemp("keys")
    regions = {}
    for region in ("eu", "us"):
        key = keys / f"{region}-master.key"
        write_local_master_key(key)
        uri = os.environ.get(f"ENCLAVE_{region.upper()}__MONGODB_URI") or (
            stack.uri(region) if stack else ""
        )
        regions[region] = RegionConfig(
            mongodb_uri=uri,
            local_master_key_file=key,
            server_selection_timeout_ms=1500,
        )
    redis_url = os.environ.get("ENCLAVE_REDIS_URL") or (stack.redis_url if stack else "")
    seal_key = keys / "audit-seal.pem"
    generate_seal_key_file(seal_key)
    return Settings(
        # The suite sends far more than a user would; limits are tested on their own app.
        rate_limit_per_principal=0,
        rate_limit_per_tenant=0,
        signin_rate_limit_per_address=0,
        signin_rate_limit_per_tenant=0,
        password_hash_queue=100,  # bursts of concurrent sign-ins all get a verification
        audit_seal_key_file=seal_key,
        eu=regions["eu"],
        us=regions["us"],
        redis_url=redis_url,
        jwt_secret="test-secret-" + "x" * 40,
        # Fixtures mint tokens from the secret; test_operator_blind checks the default.
        sessionless_tokens=True,
    )


@pytest.fixture(scope="session")
async def services(settings: Settings) -> AsyncIterator[Services]:
    svc = Services.from_settings(settings)
    try:
        yield svc
    finally:
        await svc.aclose()


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings, background=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


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


async def make_tenant(services: Services, country: str, name: str = "Test Org") -> Tenant:
    info, admin = await services.store.create_tenant(name, country, f"admin-{country}@example.com")
    token = services.tokens.issue(info.id, admin.id, ["admin"])
    return Tenant(info.id, admin.id, token)


@pytest.fixture(scope="session")
async def eu_tenant(services: Services) -> Tenant:
    return await make_tenant(services, "DE", "EU Org")


@pytest.fixture(scope="session")
async def us_tenant(services: Services) -> Tenant:
    return await make_tenant(services, "US", "US Org")


@pytest.fixture
def eu(http: httpx.AsyncClient, eu_tenant: Tenant) -> GraphQLClient:
    return GraphQLClient(http, eu_tenant.token)


@pytest.fixture
def us(http: httpx.AsyncClient, us_tenant: Tenant) -> GraphQLClient:
    return GraphQLClient(http, us_tenant.token)


def project_root() -> Path:
    return Path(__file__).resolve().parent.parent
