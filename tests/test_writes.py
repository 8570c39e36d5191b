"""The audited write path: no lost updates on a server without transactions, and crashes
settled by the reconciler."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from ulid import ULID

from gateway.services import Services
from gateway.settings import Settings
from regions.routing import database_name
from schema.datasheets import datasheet
from schema.errors import ConflictError
from storage.mongo.store import MongoStore
from storage.mongo.writes import AUDIT, LEASE, OUTCOMES, VALUES, WritePath, now
from storage.values import Actor
from tests.support.client import GraphQLClient, Tenant, make_tenant
from tests.support.employees import UPDATE_EMPLOYEE, create_employee
from tests.support.raw import plain_client

EMPLOYEES = datasheet("employees")


async def test_concurrent_updates_of_one_version_exactly_one_wins(
    eu: GraphQLClient, eu_tenant: Tenant, settings: Settings
) -> None:
    rec = await create_employee(eu)
    contenders = 24

    async def attempt(i: int) -> dict[str, Any]:
        return await eu(
            UPDATE_EMPLOYEE,
            {"id": rec["id"], "v": 1, "input": {"salary": 1000 + i, "jobTitle": f"T{i}"}},
        )

    results = await asyncio.gather(*(attempt(i) for i in range(contenders)))
    winners = [
        r["data"]["updateEmployee"] for r in results if (r.get("data") or {}).get("updateEmployee")
    ]
    conflicts = [r for r in results if r.get("errors")]
    assert len(winners) == 1
    assert len(conflicts) == contenders - 1
    assert all(r["errors"][0]["extensions"]["code"] == "CONFLICT" for r in conflicts)
    stored = await eu.ok(f'{{ employee(id: "{rec["id"]}") {{ version salary jobTitle }} }}')
    assert stored["employee"] == {
        "version": 2,
        "salary": winners[0]["salary"],
        "jobTitle": winners[0]["jobTitle"],
    }

    client = plain_client(settings, "eu")
    try:
        db = client[database_name(eu_tenant.id)]
        entries = await db[AUDIT].find({"record": rec["id"], "op": {"$ne": "attempt"}}).to_list()
        assert sorted(e["version"] for e in entries) == [1, 2]
        # Each loser's refused attempt is on record too.
        attempts = await db[AUDIT].count_documents({"record": rec["id"], "op": "attempt"})
        assert attempts == contenders - 1
        outcomes = await db[OUTCOMES].find({"_id": {"$in": [e["_id"] for e in entries]}}).to_list()
        assert {o["outcome"] for o in outcomes} == {"committed"} and len(outcomes) == 2
    finally:
        await client.close()


async def test_audit_sequence_has_no_gaps_under_concurrency(
    eu: GraphQLClient, eu_tenant: Tenant, settings: Settings
) -> None:
    await asyncio.gather(*(create_employee(eu) for _ in range(20)))
    client = plain_client(settings, "eu")
    try:
        ids = await client[database_name(eu_tenant.id)][AUDIT].distinct("_id")
        assert sorted(ids) == list(range(1, len(ids) + 1))
    finally:
        await client.close()


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs."""


async def test_reconciler_rolls_forward_an_intent_left_by_a_crash(
    services: Services, eu_tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = services.store.for_tenant(eu_tenant.id)
    actor = Actor(user_id=eu_tenant.admin_id)
    values = {"firstName": "A", "lastName": "B", "workEmail": "a.b@example.com", "status": "ACTIVE"}
    record = await store.records.create(EMPLOYEES, values, actor)

    async def crash(*args: object, **kwargs: object) -> None:
        raise Crash

    # Crash after the intent, before the data change.
    with monkeypatch.context() as patch:
        patch.setattr(WritePath, "apply", crash)
        with pytest.raises(Crash):
            await store.records.update(EMPLOYEES, record.id, 1, {"salary": 4242}, actor)
    # Meanwhile the pending intent holds version 2: another writer gets CONFLICT.
    with pytest.raises(ConflictError):
        await store.records.update(EMPLOYEES, record.id, 1, {"salary": 1}, actor)
    pending = await store.records.get(EMPLOYEES, record.id, ["salary"])
    assert pending is not None and pending.version == 1 and pending.values["salary"] is None

    # Within its writer's lease, the reconciler leaves the intent alone; after it, rolls it on.
    assert await store.audit.reconcile(older_than=dt.timedelta(0)) == 0
    assert await store.audit.reconcile(older_than=-LEASE - dt.timedelta(seconds=1)) == 1
    after = await store.records.get(EMPLOYEES, record.id, ["salary"])
    assert after is not None and after.version == 2 and after.values["salary"] == 4242
    db = MongoStore.of(services.store).registry["eu"].plain[database_name(eu_tenant.id)]
    entry = await db[AUDIT].find_one({"record": record.id, "version": 2})
    assert entry is not None
    outcome = await db[OUTCOMES].find_one({"_id": entry["_id"]})
    assert outcome is not None and outcome["outcome"] == "committed"
    assert await store.audit.reconcile(older_than=-LEASE - dt.timedelta(seconds=1)) == 0


async def test_reconciler_commits_an_applied_change_missing_its_outcome(
    services: Services, eu_tenant: Tenant
) -> None:
    store = services.store.for_tenant(eu_tenant.id)
    actor = Actor(user_id=eu_tenant.admin_id)
    record = await store.records.create(
        EMPLOYEES,
        {"firstName": "C", "lastName": "D", "workEmail": "c.d@example.com", "status": "ACTIVE"},
        actor,
    )
    region = MongoStore.of(services.store).registry["eu"]
    db = region.plain[database_name(eu_tenant.id)]
    # Crash after the data change, before the outcome: remove the outcome the write made.
    entry = await db[AUDIT].find_one({"record": record.id})
    assert entry is not None
    await db[OUTCOMES].delete_one({"_id": entry["_id"]})
    # ...and its writer's lease over, as the gateway would have written it (its MAC).
    stale = {**entry, "leaseUntil": now() - dt.timedelta(minutes=1)}
    stale["mac"] = services.settings.audit_mac().entry(db.name, stale)
    await db[AUDIT].replace_one({"_id": entry["_id"]}, stale)
    assert await store.audit.reconcile(older_than=dt.timedelta(0)) == 1
    outcome = await db[OUTCOMES].find_one({"_id": entry["_id"]})
    assert outcome is not None and outcome["outcome"] == "committed"
    again = await store.records.get(EMPLOYEES, record.id, ["firstName"])
    assert again is not None and again.version == 1 and again.values["firstName"] == "C"


async def test_orphaned_values_are_collected(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Values written by a write that then failed to claim its version (or crashed before)
    are deleted once no write can still point to them, and only then."""
    # A tenant of its own: the shared ones' orphan checkpoint may already be past `old`.
    tenant = await make_tenant(services, "DE", "Orphans Org")
    store = services.store.for_tenant(tenant.id)
    db = MongoStore.of(services.store).registry["eu"].plain[database_name(tenant.id)]
    old = str(ULID.from_datetime(dt.datetime.now(dt.UTC) - 3 * LEASE))
    fresh = str(ULID())
    await db[VALUES].insert_many([{"_id": old, "change": None}, {"_id": fresh, "change": None}])
    await store.audit.reconcile(older_than=dt.timedelta(0))
    assert await db[VALUES].find_one({"_id": old}) is None
    assert await db[VALUES].find_one({"_id": fresh}) is not None
    # Values an entry points to are kept, however old.
    record = await store.records.create(
        EMPLOYEES,
        {"firstName": "K", "lastName": "L", "workEmail": "k.l@example.com", "status": "ACTIVE"},
        Actor(user_id=tenant.admin_id),
    )
    entry = await db[AUDIT].find_one({"record": record.id})
    assert entry is not None and await db[VALUES].find_one({"_id": entry["values"]}) is not None
