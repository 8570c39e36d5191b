"""Fixtures over real servers: FerretDB for EU and US and Redis on free loopback ports,
started once per session (or the servers named by ``ENCLAVE_EU__MONGODB_URI``,
``ENCLAVE_US__MONGODB_URI`` and ``ENCLAVE_REDIS_URL``), and the gateway in process.
Tests import what they share from ``tests.support``, never from here."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
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
from tests.support.client import GraphQLClient, Tenant, asgi_client, make_tenant
from tests.support.idp import idp_gateway, idp_keys
from tests.support.servers import EXTERNAL

# The browser tests' fixtures (console_url, chromium, watched), shared by their modules.
pytest_plugins = ["tests.support.console"]


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
    async with asgi_client(app) as client:
        yield client


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


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[Starlette]:
    """A gateway with sign-in limits on (the suite's shared one has them off)."""
    app = create_app(
        settings.model_copy(
            update={
                "signin_rate_limit_per_address": 10,
                "signin_rate_limit_per_tenant": 14,
                "rate_limit_window_seconds": 3600,  # no window ends during the test
                "password_hash_threads": 1,
                "password_hash_queue": 64,
            }
        ),
        background=False,
    )
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def strict(settings: Settings) -> AsyncIterator[Starlette]:
    """A gateway that accepts built-in tokens only with a live sign-in session."""
    app = create_app(settings.model_copy(update={"sessionless_tokens": False}), background=False)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
def keys() -> dict[str, Any]:
    """An external identity provider's signing keys (tests.support.idp)."""
    return idp_keys()


@pytest.fixture
async def idp_http(
    settings: Settings, keys: dict[str, Any], tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway process of its own that also accepts the identity provider's tokens."""
    async with idp_gateway(settings, keys, tmp_path) as client:
        yield client
