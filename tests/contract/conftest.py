"""The contract suite's fixtures: one ``store`` per backend (litestar's ``store`` fixture:
a second implementation is one more entry of ``tests.contract.backends.BACKENDS``), fresh
tenants on it, and servers of the suite's own for the outage and the operators' tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from gateway.dev.servers import LocalStack
from gateway.settings import Settings
from regions.countries import RegionName
from storage.base import Store, TenantStore
from storage.signing import SealKey
from tests.contract.backends import BACKENDS, Backend, OwnServers
from tests.contract.outage import Outage, Prepared, prepare
from tests.contract.tamper import Tamper
from tests.contract.tenants import NewTenant, Tenant
from tests.support.servers import EXTERNAL


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
def tamper(backend: Backend, store: Store) -> Tamper:
    """Changes to the store's data behind its back."""
    return backend.tamper(store)


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


# Servers of the suite's own, for what stops a server or acts on every tenant of a region
# (purges, key rotation): nothing another test relies on.


@pytest.fixture(scope="session")
async def own_servers(
    backend: Backend, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[OwnServers]:
    """The suite's settings over servers of their own, giving up on a server in 300 ms."""
    if EXTERNAL:
        pytest.skip("needs the local server binaries to run servers of its own")
    stack = LocalStack.create(tmp_path_factory.mktemp("contract-servers"))
    stack.start()  # (stops what it started if one fails to start)
    fast = {"server_selection_timeout_ms": 300}
    regions = {
        name: getattr(settings, name).model_copy(
            update={"mongodb_uri": SecretStr(stack.uri(name)), **fast}
        )
        for name in ("eu", "us")
    }
    own = settings.model_copy(update={**regions, "redis_url": SecretStr(stack.redis_url)})
    first = backend.open(own)
    tenants = {"all": await first.list_tenants()}
    tenants |= {r: await first.list_tenants(r) for r in first.regions}
    providers: dict[str, dict[str, int]] = {r: await first.keys.providers(r) for r in first.regions}
    await first.aclose()
    yield OwnServers(stack, own, tenants, providers)
    stack.stop()


@pytest.fixture(scope="module")
async def prepared(
    backend: Backend, own_servers: OwnServers, seal_key: SealKey
) -> dict[RegionName, Prepared]:
    """A tenant of each region with one of everything, on the suite's own servers."""
    before = backend.open(own_servers.settings)
    try:
        return {r: await prepare(before, r, seal_key) for r in before.regions}
    finally:
        await before.aclose()


@pytest.fixture(scope="module", params=["eu", "us"])
async def outage(
    request: pytest.FixtureRequest,
    backend: Backend,
    own_servers: OwnServers,
    prepared: dict[RegionName, Prepared],
) -> AsyncIterator[Outage]:
    """A region's server stopped, and a store opened after that (so nothing of the region
    is cached in it)."""
    down: RegionName = request.param
    server = own_servers.stack.eu if down == "eu" else own_servers.stack.us
    (other,) = (p.tenant for r, p in prepared.items() if r != down)
    server.stop()
    try:
        opened = backend.open(own_servers.settings)
        try:
            yield prepared[down].on(opened, lambda: backend.open(own_servers.settings), other)
        finally:
            await opened.aclose()
    finally:
        server.start()
