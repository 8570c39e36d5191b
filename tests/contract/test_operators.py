"""The operators' contracts that act on every tenant of a region (MasterKeys, purge_due),
and the empty case of listing tenants: on servers of the suite's own, where nothing else
runs and the empty case was seen before anything was written."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest

from regions.countries import RegionName
from schema.errors import BadUserInputError
from storage.base import Store
from storage.contract.keys import MasterKeys
from storage.contract.lifecycle import TenantLifecycle
from storage.values import OPERATOR
from tests.contract.backends import Backend, OwnServers
from tests.contract.contracts import covers
from tests.contract.data import unique_email


@pytest.fixture(scope="module")
async def own_store(backend: Backend, own_servers: OwnServers) -> AsyncIterator[Store]:
    opened = backend.open(own_servers.settings)
    yield opened
    await opened.aclose()


async def keyed(store: Store, region: RegionName) -> int:
    """How many tenants of *region* have a data key (every one not purged)."""
    return len([t for t in await store.list_tenants(region) if t.status != "purged"])


@covers(Store.list_tenants)
async def test_no_tenants_before_the_first(own_servers: OwnServers) -> None:
    assert own_servers.empty_tenants == {"all": [], "eu": [], "us": []}


@covers(MasterKeys.providers)
async def test_providers(own_servers: OwnServers, own_store: Store) -> None:
    assert own_servers.empty_providers == {"eu": {}, "us": {}}
    await own_store.create_tenant("Keys", "DE", unique_email())
    assert await own_store.keys.providers("eu") == {"local": await keyed(own_store, "eu")}
    assert sum((await own_store.keys.providers("us")).values()) == await keyed(own_store, "us")


@covers(MasterKeys.rotate)
async def test_rotate(own_store: Store) -> None:
    with pytest.raises(BadUserInputError) as unknown:
        await own_store.keys.rotate("eu", "aws")
    assert unknown.value.extensions.get("field") == "provider"
    await own_store.create_tenant("Rotation", "DE", unique_email())
    before = await own_store.keys.providers("eu")
    report = await own_store.keys.rotate("eu", "local")
    assert (report.region, report.provider) == ("eu", "local")
    assert (dict(report.before), dict(report.after)) == (before, before)
    assert report.rewrapped == before["local"]


@covers(MasterKeys.rotate)
async def test_rotate_more_keys_than_one_update_holds(own_store: Store) -> None:
    # FerretDB 1.24 never answers an update command of 100 statements or more; a region
    # has as many data keys as tenants, so a rotation must not rewrap them in one command.
    made = 0
    while (await own_store.keys.providers("eu")).get("local", 0) <= 100:
        await asyncio.gather(
            *(own_store.create_tenant(f"Many {made + i}", "DE", unique_email()) for i in range(10))
        )
        made += 10
    before = await own_store.keys.providers("eu")
    report = await asyncio.wait_for(own_store.keys.rotate("eu", "local"), 120)
    assert report.rewrapped == before["local"]
    assert dict(report.after) == before


@covers(MasterKeys.seal_documents)
async def test_seal_documents(own_store: Store) -> None:
    # Documents of earlier versions (no MAC) are made by tests/test_trusted_documents.py;
    # everything written through the contract has its MAC, so there is nothing to seal.
    assert await own_store.keys.seal_documents(OPERATOR) == {}
    info, _ = await own_store.create_tenant("Sealed", "US", unique_email())
    await own_store.for_tenant(info.id).operations.set_allow_list(True, OPERATOR)
    assert await own_store.keys.seal_documents(OPERATOR) == {}


@covers(TenantLifecycle.purge_due)
async def test_purge_due(own_store: Store) -> None:
    lifecycle = own_store.lifecycle(settle=dt.timedelta(0))
    assert await lifecycle.purge_due(OPERATOR) == []  # nothing is due
    kept, _ = await own_store.create_tenant("Kept", "DE", unique_email())
    due, _ = await own_store.create_tenant("Due", "US", unique_email())
    await lifecycle.terminate(kept.id, OPERATOR, 30)
    await lifecycle.terminate(due.id, OPERATOR, 0)
    outcomes = await lifecycle.purge_due(OPERATOR)
    assert [(o.tenant_id, o.outcome) for o in outcomes] == [(due.id, "purged")]
    assert outcomes[0].certificate is not None and outcomes[0].certificate["tenantId"] == due.id
    assert await lifecycle.purge_due(OPERATOR) == []
    kept_info = await own_store.get_tenant(kept.id)
    assert kept_info is not None and kept_info.status == "terminated"
