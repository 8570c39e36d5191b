"""After a workload: every acknowledged mutation is stored and audited.

Read straight from each tenant's database (the auto-decrypting client, no gateway):

- every acknowledged create or update has its audit entry (same operation, record and
  version) with the outcome ``committed``;
- every record with an acknowledged mutation is stored at that version or later, and if
  the last acknowledged version is the stored one, it holds exactly the values sent
  (the create's values with every later acknowledged update's applied);
- no audit entry of the tenant is left without an outcome (``pending_intents`` is 0):
  only meaningful once writers are done and crashed writers' intents were reconciled.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from bench.support.workload import Ack
from gateway.services import Services
from regions.routing import database_name, region_of
from storage.mongo.decryption import tenant_scope
from storage.mongo.store import MongoStore
from storage.mongo.writes import AUDIT, OUTCOMES

__all__ = ["verify_acknowledged"]


async def _tenant_problems(services: Services, tenant: str, acked: Sequence[Ack]) -> list[str]:
    with tenant_scope(tenant):  # the records are decrypted as the tenant's own
        return await _scoped_problems(services, tenant, acked)


async def _scoped_problems(services: Services, tenant: str, acked: Sequence[Ack]) -> list[str]:
    problems: list[str] = []
    db = MongoStore.of(services.store).registry[region_of(tenant)].data[database_name(tenant)]
    records = sorted({a.record for a in acked})
    stored = {d["_id"]: d async for d in db["employees"].find({"_id": {"$in": records}})}
    entries = {
        (e["record"], int(e["version"])): e
        async for e in db[AUDIT].find(
            # Changes only: a refused or failed mutation's "attempt" has no version.
            {"datasheet": "employees", "record": {"$in": records}, "op": {"$ne": "attempt"}},
            {"record": 1, "version": 1, "op": 1},
        )
    }
    seqs = [e["_id"] for e in entries.values()]
    outcomes = {
        o["_id"]: o.get("outcome")
        async for o in db[OUTCOMES].find({"_id": {"$in": seqs}}, {"outcome": 1})
    }
    expected: dict[str, dict[str, Any]] = {}
    last: dict[str, int] = {}
    for ack in sorted(acked, key=lambda a: (a.record, a.version)):
        entry = entries.get((ack.record, ack.version))
        if entry is None:
            problems.append(
                f"{tenant}: acknowledged {ack.op} {ack.record} v{ack.version} has no audit entry"
            )
        elif entry["op"] != ack.op or outcomes.get(entry["_id"]) != "committed":
            problems.append(
                f"{tenant}: acknowledged {ack.op} {ack.record} v{ack.version} is audited as "
                f"{entry['op']}, outcome {outcomes.get(entry['_id'])}"
            )
        expected.setdefault(ack.record, {}).update(ack.values)
        last[ack.record] = ack.version
    for record, version in last.items():
        doc = stored.get(record)
        if doc is None:
            problems.append(f"{tenant}: {record} (acknowledged v{version}) is not stored")
            continue
        if int(doc["_v"]) < version:
            problems.append(f"{tenant}: {record} stored at v{doc['_v']}, acknowledged v{version}")
        elif int(doc["_v"]) == version:
            wrong = sorted(k for k, v in expected[record].items() if doc.get(k) != v)
            if wrong:
                problems.append(f"{tenant}: {record} v{version} differs in {wrong}")
    pending = await services.store.for_tenant(tenant).audit.pending_intents()
    if pending:
        problems.append(f"{tenant}: {pending} audit intents without an outcome")
    return problems


async def verify_acknowledged(services: Services, acked: Sequence[Ack]) -> list[str]:
    """What is wrong (empty if nothing), per tenant with acknowledged mutations."""
    by_tenant: dict[str, list[Ack]] = defaultdict(list)
    for ack in acked:
        by_tenant[ack.tenant].append(ack)
    problems: list[str] = []
    for tenant, acks in sorted(by_tenant.items()):
        problems += await _tenant_problems(services, tenant, acks)
    return problems
