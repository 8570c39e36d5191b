"""Store (tenants of every region) and TenantLifecycle, on tenants of the suite's own."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.settings import Settings
from regions.routing import new_tenant_id
from schema.errors import BadUserInputError, ConflictError, EnclaveError, NotFoundError
from storage.base import Store, TenantStore
from storage.contract.keys import MasterKeys
from storage.contract.lifecycle import TenantLifecycle
from storage.values import OPERATOR, AuditQuery
from tests.contract.backends import Backend
from tests.contract.contracts import covers
from tests.contract.data import SHEET, employee, entries, unique_email
from tests.contract.tenants import NewTenant, Tenant


@covers(Store.for_tenant, Store.regions, Store.lifecycle, Store.keys)
async def test_handles_and_operator_contracts(store: Store, tenant: Tenant) -> None:
    assert store.for_tenant(tenant.info.id).tenant_id == tenant.info.id
    with pytest.raises(BadUserInputError):
        store.for_tenant("not a tenant id")
    assert set(store.regions) == {"eu", "us"}
    assert isinstance(store.lifecycle(), TenantLifecycle)
    assert isinstance(store.keys, MasterKeys)


@covers(Store.create_tenant)
async def test_create_tenant(store: Store) -> None:
    email = unique_email("admin")
    info, admin = await store.create_tenant("  Acme  ", "us", email)
    assert (info.name, info.country, info.region, info.status) == ("Acme", "US", "us", "active")
    assert info.id.startswith("us_")
    assert (admin.email, admin.roles, admin.version) == (email, ("admin",), 1)
    handle = store.for_tenant(info.id)
    assert [u.id for u in await handle.users.all()] == [admin.id]
    (created,), _ = await handle.audit.page(AuditQuery(record=admin.id), first=5)
    assert created.actor.get("kind") == OPERATOR.kind and OPERATOR.user_id in created.actor.values()
    for name, country in (("", "DE"), ("x" * 201, "DE"), ("Acme", "XX")):
        with pytest.raises(BadUserInputError):
            await store.create_tenant(name, country, unique_email())


@covers(Store.get_tenant, Store.list_tenants)
async def test_get_and_list_tenants(store: Store, new_tenant: NewTenant) -> None:
    assert await store.get_tenant(new_tenant_id("eu")) is None
    with pytest.raises(BadUserInputError):
        await store.get_tenant("not a tenant id")
    eu, us = await new_tenant("DE"), await new_tenant("US")
    got = await store.get_tenant(eu.info.id)
    assert got is not None and (got.id, got.name, got.status) == (
        eu.info.id,
        eu.info.name,
        "active",
    )
    in_eu = [t.id for t in await store.list_tenants("eu")]
    in_us = [t.id for t in await store.list_tenants("us")]
    every = [t.id for t in await store.list_tenants()]
    assert eu.info.id in in_eu and eu.info.id not in in_us
    assert us.info.id in in_us and us.info.id not in in_eu
    assert in_eu == sorted(in_eu) and sorted(every) == sorted(in_eu + in_us)


@covers(Store.ping, Store.aclose)
async def test_ping_and_aclose(store: Store, backend: Backend, settings: Settings) -> None:
    for region in store.regions:
        await store.ping(region)  # returns: the region answers
    other = backend.open(settings)
    await other.ping("eu")
    await other.aclose()
    with pytest.raises(EnclaveError):  # unusable after, but never a driver error
        await other.ping("eu")


def lifecycle(store: Store) -> TenantLifecycle:
    return store.lifecycle(settle=dt.timedelta(0))


@covers(TenantLifecycle.suspend, TenantLifecycle.resume, TenantLifecycle.history)
async def test_suspend_resume_history(store: Store, tenant: Tenant) -> None:
    ops, tid = lifecycle(store), tenant.info.id
    with pytest.raises(NotFoundError):
        await ops.suspend(new_tenant_id("eu"), OPERATOR)
    start = await ops.history(tid)
    with pytest.raises(ConflictError):
        await ops.resume(tid, OPERATOR)
    logged = await entries(tenant.handle)
    assert (await ops.suspend(tid, OPERATOR)).status == "suspended"
    assert await entries(tenant.handle) == logged + 1  # audited in the tenant's own log
    with pytest.raises(ConflictError):
        await ops.suspend(tid, OPERATOR)
    assert (await ops.resume(tid, OPERATOR)).status == "active"
    changes = (await ops.history(tid))[len(start) :]
    assert [(c["action"], c["from"], c["to"]) for c in changes] == [
        ("suspend", "active", "suspended"),
        ("resume", "suspended", "active"),
    ]
    assert all(c["actor"] == {"kind": "operator", "id": "operator"} for c in changes)
    assert changes[0]["at"] <= changes[1]["at"]


@covers(TenantLifecycle.terminate, TenantLifecycle.restore, TenantLifecycle.set_retention)
async def test_terminate_restore_retention(store: Store, tenant: Tenant) -> None:
    ops, tid = lifecycle(store), tenant.info.id
    for days in (-1, 3651):
        with pytest.raises(BadUserInputError):
            await ops.terminate(tid, OPERATOR, days)
        with pytest.raises(BadUserInputError):
            await ops.set_retention(tid, days, OPERATOR)
    with pytest.raises(ConflictError):
        await ops.restore(tid, OPERATOR)
    assert (await ops.set_retention(tid, 30, OPERATOR)).retention_days == 30
    ended = await ops.terminate(tid, OPERATOR)
    assert ended.status == "terminated" and ended.terminated_at and ended.purge_due_at
    assert ended.purge_due_at - ended.terminated_at == dt.timedelta(days=30)
    moved = await ops.set_retention(tid, 60, OPERATOR)
    assert moved.purge_due_at == ended.terminated_at + dt.timedelta(days=60)
    with pytest.raises(ConflictError):
        await ops.terminate(tid, OPERATOR)
    back = await ops.restore(tid, OPERATOR)
    assert (back.status, back.purge_due_at) == ("active", None)
    overdue = await ops.terminate(tid, OPERATOR, 0)
    assert overdue.purge_due_at == overdue.terminated_at
    with pytest.raises(ConflictError):  # the purge date has passed
        await ops.restore(tid, OPERATOR)


@covers(TenantLifecycle.purge)
async def test_purge(store: Store, tenant: Tenant) -> None:
    ops, tid = lifecycle(store), tenant.info.id
    with pytest.raises(ConflictError):  # not terminated
        await ops.purge(tid, OPERATOR, before_due=True)
    await ops.terminate(tid, OPERATOR, 30)
    with pytest.raises(ConflictError):  # not due
        await ops.purge(tid, OPERATOR)
    with pytest.raises(ConflictError):  # gateways may still be finishing its requests
        await store.lifecycle(settle=dt.timedelta(hours=1)).purge(tid, OPERATOR, before_due=True)
    certificate = await ops.purge(tid, OPERATOR, before_due=True)
    assert (certificate["tenantId"], certificate["region"]) == (tid, "eu")
    assert certificate["by"] == {"kind": "operator", "id": "operator"}
    purged = await store.get_tenant(tid)
    assert purged is not None and purged.status == "purged"
    assert await ops.purge(tid, OPERATOR) == certificate  # returned as it is
    assert [c["to"] for c in await ops.history(tid)][-2:] == ["purging", "purged"]


async def test_a_handle_reaches_only_its_own_tenant(
    eu_handle: TenantStore, us_handle: TenantStore, tenant: Tenant
) -> None:
    assert (eu_handle.tenant_id[:3], us_handle.tenant_id[:3]) == ("eu_", "us_")
    in_eu = await eu_handle.records.create(SHEET, employee(), OPERATOR)
    in_us = await us_handle.records.create(SHEET, employee(), OPERATOR)
    assert await eu_handle.records.get(SHEET, in_eu.id, ["lastName"]) is not None
    assert await us_handle.records.get(SHEET, in_eu.id, ["lastName"]) is None
    assert await eu_handle.records.get(SHEET, in_us.id, ["lastName"]) is None
    assert await tenant.handle.records.get(SHEET, in_eu.id, ["lastName"]) is None  # also EU
