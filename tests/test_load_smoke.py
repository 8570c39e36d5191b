"""The load script's workload and its verification, briefly, against the in-process gateway:
the verification passes on what was acknowledged, and finds a lost or unaudited write."""

from __future__ import annotations

from typing import Any

import httpx
from pymongo.asynchronous.database import AsyncDatabase

from bench.support.verify import verify_acknowledged
from bench.support.workload import LoadTenant, run_workload
from gateway.services import Services
from regions.routing import database_name, region_of
from storage.mongo.store import MongoStore
from storage.mongo.writes import AUDIT, OUTCOMES
from tests.support.client import make_tenant


def _db(services: Services, tenant: str) -> AsyncDatabase[dict[str, Any]]:
    return MongoStore.of(services.store).registry[region_of(tenant)].plain[database_name(tenant)]


async def test_workload_acknowledges_writes_that_verification_finds(
    services: Services, http: httpx.AsyncClient
) -> None:
    tenants = [
        LoadTenant(t.id, t.token)
        for t in [await make_tenant(services, c, f"Load {c}") for c in ("FR", "CA")]
    ]
    result = await run_workload([http], tenants, seconds=30, workers=4, seed=8, budget=120)
    assert len(result.outcomes) >= 120
    assert not result.server_errors()
    assert all(o.ok for o in result.outcomes), {o.codes for o in result.outcomes}
    assert {o.region for o in result.outcomes} == {"eu", "us"}
    assert {a.op for a in result.acked} == {"create", "update"}
    assert await verify_acknowledged(services, result.acked) == []

    # A write lost after its acknowledgement, and one whose outcome was never recorded.
    lost = result.acked[0]
    unaudited = next(a for a in reversed(result.acked) if a.record != lost.record)
    await _db(services, lost.tenant)["employees"].delete_one({"_id": lost.record})
    db = _db(services, unaudited.tenant)
    entry = await db[AUDIT].find_one({"record": unaudited.record, "version": unaudited.version})
    assert entry is not None
    await db[OUTCOMES].delete_one({"_id": entry["_id"]})
    problems = await verify_acknowledged(services, result.acked)
    assert any(f"{lost.record} (acknowledged" in p for p in problems), problems
    assert any(f"{unaudited.record} v{unaudited.version} is audited" in p for p in problems)
    assert any("1 audit intents without an outcome" in p for p in problems), problems
