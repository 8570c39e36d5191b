"""Background work follows the writes: every write marks its tenant (in its own region's
control database, before its audit intent), the reconciler and the sealer visit the marked
tenants and clear their marks once done, and a full sweep counts what the marks missed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from gateway.services import Services
from gateway.settings import Settings
from regions.routing import database_name
from schema.datasheets import datasheet
from storage.mongo.control import CONTROL_DB
from storage.mongo.pending import BUCKET, PENDING
from storage.mongo.store import MongoStore
from storage.mongo.writes import AUDIT, LEASE, OUTCOMES, SEALS, WritePath, now
from storage.open import open_store
from storage.values import Actor
from tests.support.client import Tenant, make_tenant

EMPLOYEES = datasheet("employees")
MISSED = "enclave_background_sweep_missed_total"
WORKS = ("reconcile", "seal")


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs."""


@pytest.fixture
async def tenant(services: Services) -> Tenant:
    return await make_tenant(services, "DE", "Pending Org")


@pytest.fixture
def control(services: Services) -> AsyncDatabase[dict[str, Any]]:
    return MongoStore.of(services.store).registry["eu"].plain[CONTROL_DB]


def _later(monkeypatch: pytest.MonkeyPatch) -> None:
    """Passes start as if every write so far were past its lease (the marks clearable)."""
    later = dt.datetime.now(dt.UTC) + LEASE + BUCKET + dt.timedelta(seconds=1)
    monkeypatch.setattr("gateway.services._now", lambda: later)


def _missed(services: Services, loop: str) -> float:
    value = services.metrics.registry.get_sample_value(MISSED, {"loop": loop})
    return value or 0.0


async def _create(services: Services, tenant: Tenant, name: str) -> str:
    values = {"firstName": name, "lastName": "P", "workEmail": f"{name}@example.com"}
    store = services.store.for_tenant(tenant.id)
    record = await store.records.create(EMPLOYEES, values, Actor(user_id=tenant.admin_id))
    return record.id


async def _marked(services: Services, tenant: Tenant) -> set[str]:
    return {w for w in WORKS if tenant.id in await services.store.pending_tenants("eu", w)}


async def _unsealed(services: Services, tenant: Tenant) -> int:
    db = MongoStore.of(services.store).registry["eu"].plain[database_name(tenant.id)]
    last = await db[AUDIT].find_one({}, {"_id": 1}, sort=[("_id", -1)])
    seal = await db[SEALS].find_one({}, {"to": 1}, sort=[("_id", -1)])
    return int(last["_id"] if last else 0) - int(seal["to"] if seal else 0)


async def test_a_write_marks_its_tenant_in_its_own_region_only(
    services: Services, settings: Settings, tenant: Tenant, control: AsyncDatabase[dict[str, Any]]
) -> None:
    await control[PENDING].delete_many({"tenant": tenant.id})
    # Written by another gateway process (this one remembers having marked the tenant).
    other = open_store(settings.regions(), settings.audit_mac())
    try:
        values = {"firstName": "M", "lastName": "P", "workEmail": "m.p@example.com"}
        actor = Actor(user_id=tenant.admin_id)
        await other.for_tenant(tenant.id).records.create(EMPLOYEES, values, actor)
    finally:
        await other.aclose()
    assert await _marked(services, tenant) == set(WORKS)
    entry = (
        await MongoStore.of(services.store)
        .registry["eu"]
        .plain[database_name(tenant.id)][AUDIT]
        .find_one({}, sort=[("_id", -1)])
    )
    assert entry is not None
    marks = await control[PENDING].find({"tenant": tenant.id}).to_list()
    # The mark covers the time slot the write started in.
    assert all(m["until"] > entry["at"] for m in marks) and len(marks) == len(WORKS)
    us = MongoStore.of(services.store).registry["us"].plain[CONTROL_DB]
    assert await us[PENDING].count_documents({"tenant": tenant.id}) == 0
    assert tenant.id not in await services.store.pending_tenants("us", "reconcile")


async def test_a_pass_settles_and_seals_the_marked_tenants_and_clears_their_marks(
    services: Services, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = await make_tenant(services, "FR", "Unmarked Org")
    await services.seal_all(sweep=True)  # settle what earlier tests left unmarked
    await _create(services, tenant, "marked")
    await _create(services, other, "unmarked")
    unmarked = MongoStore.of(services.store).registry["eu"].plain[CONTROL_DB][PENDING]
    await unmarked.delete_many({"tenant": other.id})  # behind the gateway's back
    _later(monkeypatch)
    await services.reconcile_all()
    await services.seal_all()
    assert await _unsealed(services, tenant) == 0 and await _marked(services, tenant) == set()
    # Not marked, not visited: its entries wait for the sweep.
    assert await _unsealed(services, other) > 0
    missed = _missed(services, "seal")
    await services.seal_all(sweep=True)
    assert await _unsealed(services, other) == 0
    assert _missed(services, "seal") == missed + 1


async def test_an_intent_left_by_a_crash_after_its_mark_is_settled_by_a_pass(
    services: Services, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = await _create(services, tenant, "crash")
    store = services.store.for_tenant(tenant.id)
    actor = Actor(user_id=tenant.admin_id)

    async def crash(*args: object, **kwargs: object) -> None:
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(WritePath, "apply", crash)  # after the mark and the intent
        with pytest.raises(Crash):
            await store.records.update(EMPLOYEES, record, 1, {"salary": 4242}, actor)
    db = MongoStore.of(services.store).registry["eu"].plain[database_name(tenant.id)]
    entry = await db[AUDIT].find_one({"record": record, "version": 2})
    assert entry is not None and await db[OUTCOMES].find_one({"_id": entry["_id"]}) is None
    # Its writer's lease over, as the gateway would have written it (its MAC).
    stale = {**entry, "leaseUntil": now() - dt.timedelta(minutes=1)}
    stale["mac"] = services.settings.audit_mac().entry(db.name, stale)
    await db[AUDIT].replace_one({"_id": entry["_id"]}, stale)
    assert "reconcile" in await _marked(services, tenant)

    _later(monkeypatch)
    assert await services.reconcile_all() >= 1
    outcome = await db[OUTCOMES].find_one({"_id": entry["_id"]})
    assert outcome is not None and outcome["outcome"] == "committed"
    after = await store.records.get(EMPLOYEES, record, ["salary"])
    assert after is not None and after.version == 2 and after.values["salary"] == 4242
    assert "reconcile" not in await _marked(services, tenant)


async def test_the_sweep_misses_nothing_in_normal_operation_and_counts_a_lost_mark(
    services: Services, tenant: Tenant, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Settle what earlier tests left behind the gateway's back, then count afresh.
    await services.reconcile_all(sweep=True)
    await services.seal_all(sweep=True)
    before = {loop: _missed(services, loop) for loop in WORKS}
    await _create(services, tenant, "normal")
    await services.reconcile_all(sweep=True)
    await services.seal_all(sweep=True)
    assert {loop: _missed(services, loop) for loop in WORKS} == before
    exposition = services.metrics.exposition().decode()
    assert f'{MISSED}{{loop="seal"}}' in exposition

    # A pending intent whose tenant's mark was deleted: the sweep finds it, counts it once
    # and marks the tenant again.
    store = services.store.for_tenant(tenant.id)
    record = await _create(services, tenant, "lost")

    async def crash(*args: object, **kwargs: object) -> None:
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(WritePath, "apply", crash)
        with pytest.raises(Crash):
            await store.records.update(
                EMPLOYEES, record, 1, {"salary": 1}, Actor(user_id=tenant.admin_id)
            )
    control = MongoStore.of(services.store).registry["eu"].plain[CONTROL_DB]
    await control[PENDING].delete_many({"tenant": tenant.id})
    await services.reconcile_all()
    assert _missed(services, "reconcile") == before["reconcile"]  # not visited
    await services.reconcile_all(sweep=True)
    assert _missed(services, "reconcile") == before["reconcile"] + 1
    assert "reconcile" in await _marked(services, tenant)  # its intent is in its lease
    await services.reconcile_all(sweep=True)
    assert _missed(services, "reconcile") == before["reconcile"] + 1
    assert await store.audit.pending_intents() == 1


async def test_purge_due_finds_the_due_tenants_through_an_index(
    tenant: Tenant, control: AsyncDatabase[dict[str, Any]]
) -> None:
    del tenant  # provisioning a tenant makes its region's indexes
    indexes = await control["tenants"].index_information()
    assert any(spec["key"] == [("purgeDueAt", 1)] for spec in indexes.values())
