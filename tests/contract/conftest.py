"""The contract suite's fixtures: one ``store`` per backend (litestar's ``store`` fixture),
fresh tenants on it, and for the outage tests a store over servers of their own.

A backend is a name and how to open a :class:`storage.base.Store` from the settings; a second
implementation is one more entry of :data:`BACKENDS`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from gateway.devservers import LocalStack
from gateway.settings import Settings
from storage.base import Store, TenantStore
from storage.open import open_store
from storage.signing import SealKey
from tests.conftest import EXTERNAL
from tests.contract.outage import Outage, prepare_outage
from tests.contract.tenants import NewTenant, Tenant


@dataclass(frozen=True)
class Backend:
    name: str
    open: Callable[[Settings], Store]


BACKENDS = (Backend("mongodb", lambda s: open_store(s.regions(), s.audit_mac())),)


@pytest.fixture(scope="session", params=BACKENDS, ids=lambda b: b.name)
def backend(request: pytest.FixtureRequest) -> Backend:
    chosen: Backend = request.param
    return chosen


@pytest.fixture(scope="session")
async def store(backend: Backend, settings: Settings) -> AsyncIterator[Store]:
    opened = backend.open(settings)
    yield opened  # pytest runs what follows however the tests went
    await opened.aclose()


@pytest.fixture(scope="session")
def seal_key(settings: Settings) -> SealKey:
    return settings.seal_key()


@pytest.fixture
def new_tenant(store: Store) -> NewTenant:
    """Creates a tenant (EU unless another *country* is given) with nothing in it but its
    first admin."""

    async def create(country: str = "DE") -> Tenant:
        tag = uuid.uuid4().hex[:10]
        info, admin = await store.create_tenant(
            f"Contract {tag}", country, f"admin-{tag}@example.com"
        )
        return Tenant(info, admin, store.for_tenant(info.id))

    return create


@pytest.fixture
async def tenant(new_tenant: NewTenant) -> Tenant:
    """A fresh EU tenant: the empty case of every tenant store."""
    return await new_tenant()


@pytest.fixture(scope="session")
async def eu_handle(store: Store) -> TenantStore:
    info, _ = await store.create_tenant("Contract EU", "DE", "admin-contract@example.com")
    return store.for_tenant(info.id)


@pytest.fixture(scope="session")
async def us_handle(store: Store) -> TenantStore:
    info, _ = await store.create_tenant("Contract US", "US", "admin-contract@example.com")
    return store.for_tenant(info.id)


# The outage tests: servers of their own, so stopping one breaks no other test.


@pytest.fixture(scope="module")
def outage_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    if EXTERNAL:
        pytest.skip("needs the local server binaries to stop a region's server")
    servers = LocalStack.create(tmp_path_factory.mktemp("contract-outage"))
    servers.start()  # (stops what it started if one fails to start)
    yield servers
    servers.stop()


@pytest.fixture(scope="module")
def outage_settings(outage_stack: LocalStack, settings: Settings) -> Settings:
    """The suite's settings over the outage servers, giving up on a server in 300 ms."""
    fast = {"server_selection_timeout_ms": 300}
    regions = {
        name: getattr(settings, name).model_copy(
            update={"mongodb_uri": SecretStr(outage_stack.uri(name)), **fast}
        )
        for name in ("eu", "us")
    }
    return settings.model_copy(update={**regions, "redis_url": SecretStr(outage_stack.redis_url)})


@pytest.fixture(scope="module")
async def outage(
    backend: Backend, outage_stack: LocalStack, outage_settings: Settings, seal_key: SealKey
) -> AsyncIterator[Outage]:
    """EU's server stopped, a store opened after that (so nothing of EU is cached in it),
    and an EU and a US tenant with something of every kind in them, written before."""
    before = backend.open(outage_settings)
    try:
        world = await prepare_outage(before, seal_key)
    finally:
        await before.aclose()
    outage_stack.eu.stop()
    try:
        opened = backend.open(outage_settings)
        try:
            yield world.on(opened, lambda: backend.open(outage_settings))
        finally:
            await opened.aclose()
    finally:
        outage_stack.eu.start()
