"""Store: the marks of tenants with background work pending (reconcile, seal)."""

from __future__ import annotations

import datetime as dt

import pytest

from storage.base import Store
from tests.contract.contracts import covers
from tests.contract.tenants import Tenant

WORKS = ("reconcile", "seal")


async def _marked(store: Store, tenant_id: str) -> set[str]:
    return {w for w in WORKS if tenant_id in await store.pending_tenants("eu", w)}


@covers(Store.pending_tenants, Store.mark_pending, Store.clear_pending)
async def test_writes_mark_their_tenant_until_the_work_is_cleared(
    store: Store, tenant: Tenant
) -> None:
    tenant_id = tenant.info.id
    # Its creation wrote (the first admin), so it is marked, in its own region only.
    assert await _marked(store, tenant_id) == set(WORKS)
    for work in WORKS:
        assert tenant_id not in await store.pending_tenants("us", work)
    listed = await store.pending_tenants("eu", "reconcile")
    assert listed == sorted(listed)

    # Work that starts now may not see the intent of a write in flight: nothing dropped.
    assert await store.clear_pending(tenant_id, "reconcile", dt.datetime.now(dt.UTC)) == 0
    assert await _marked(store, tenant_id) == set(WORKS)
    # Work that started once every write so far was past its lease drops their marks, of
    # its own kind only.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    assert await store.clear_pending(tenant_id, "reconcile", later) >= 1
    assert await _marked(store, tenant_id) == {"seal"}
    assert await store.clear_pending(tenant_id, "reconcile", later) == 0

    await store.mark_pending(tenant_id)
    await store.mark_pending(tenant_id)  # marked already: no error
    assert await _marked(store, tenant_id) == set(WORKS)
    assert await store.clear_pending(tenant_id, "seal", later + dt.timedelta(minutes=1)) >= 1
    assert await _marked(store, tenant_id) == {"reconcile"}

    with pytest.raises(ValueError, match="background work"):
        await store.pending_tenants("eu", "vacuum")
    with pytest.raises(ValueError, match="background work"):
        await store.clear_pending(tenant_id, "vacuum", later)
