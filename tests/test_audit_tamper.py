"""An insider with write access to the database (not the gateway's secrets) rewriting the
audit log: every entry and outcome is authenticated where it is written, the sealer never
seals changed history, and heads kept outside the database catch dropped entries."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from gateway.services import Services
from gateway.settings import Settings
from regions.routing import database_name
from storage.auditmac import SignedHead
from storage.values import VerifyReport
from tests.support.client import GraphQLClient, Tenant, make_tenant
from tests.support.employees import UPDATE_EMPLOYEE, create_employee, employee_input
from tests.support.gateways import gateway_env
from tests.support.operator import run_enclave
from tests.support.raw import plain_client

Db = AsyncDatabase[dict[str, Any]]
VERIFY = "{ auditVerify { ok entries sealedThrough unsealed firstBadSequence reason } }"


@pytest.fixture
async def tenant(services: Services) -> Tenant:
    return await make_tenant(services, "DE", "Tamper Org")


@pytest.fixture
async def db(settings: Settings, tenant: Tenant) -> Any:
    client = plain_client(settings, "eu")
    try:
        yield client[database_name(tenant.id)]
    finally:
        await client.close()


async def _seal(services: Services, settings: Settings, tenant: Tenant) -> int:
    """Seal as the gateway's sealer does (remembering the head outside the database)."""
    return await services.seal_tenant(tenant.id, "eu", settings.seal_key())


async def _verify(services: Services, settings: Settings, tenant: Tenant) -> VerifyReport:
    return await services.store.for_tenant(tenant.id).seals.verify(settings.seal_key())


def _tampered(services: Services) -> float:
    value = services.metrics.registry.get_sample_value(
        "enclave_audit_tampered_total", {"region": "eu"}
    )
    return value or 0.0


@pytest.fixture
async def logged(
    http: httpx.AsyncClient, tenant: Tenant, services: Services, settings: Settings
) -> GraphQLClient:
    """A few changes, all sealed by the gateway's sealer."""
    admin = GraphQLClient(http, tenant.token)
    rec = await create_employee(admin)
    await create_employee(admin)
    await admin.ok(UPDATE_EMPLOYEE, {"id": rec["id"], "v": 1, "input": {"salary": 1}})
    assert await _seal(services, settings, tenant) >= 4
    assert (await _verify(services, settings, tenant)).ok
    return admin


async def test_checkpoints_deleted_and_an_actor_edited(
    logged: GraphQLClient, db: Db, services: Services, settings: Settings, tenant: Tenant
) -> None:
    update = await db["audit"].find_one({"op": "update"})
    assert update is not None
    await db["audit_seals"].delete_many({})
    await db["audit"].update_one(
        {"_id": update["_id"]}, {"$set": {"actor.id": "someone-else", "actor.roles": ["x"]}}
    )
    report = await _verify(services, settings, tenant)
    assert not report.ok and report.first_bad == update["_id"]
    assert "MAC" in str(report.reason)
    # The gateway's answer agrees.
    body = (await logged.ok(VERIFY))["auditVerify"]
    assert body["ok"] is False and body["firstBadSequence"] == update["_id"]
    # The sealer refuses to re-seal: its last head's checkpoint is gone. It alerts.
    before = _tampered(services)
    assert await _seal(services, settings, tenant) == 0
    assert await db["audit_seals"].count_documents({}) == 0
    assert _tampered(services) == before + 1


async def test_a_forged_settled_entry_after_the_last_checkpoint(
    logged: GraphQLClient, db: Db, services: Services, settings: Settings, tenant: Tenant
) -> None:
    last = await db["audit"].find_one({}, sort=[("_id", -1)])
    outcome = await db["audit_outcomes"].find_one({"_id": last["_id"]} if last else {})
    assert last is not None and outcome is not None
    forged = last["_id"] + 1
    await db["audit"].insert_one(
        {
            **last,
            "_id": forged,
            "op": "delete",
            "version": 99,
            "claim": f"employees/{last['record']}/99",
            "guard": "forged",
        }
    )
    await db["audit_outcomes"].insert_one({**outcome, "_id": forged})
    report = await _verify(services, settings, tenant)
    assert not report.ok and report.first_bad == forged and "MAC" in str(report.reason)
    seals = await db["audit_seals"].count_documents({})
    assert await _seal(services, settings, tenant) == 0
    assert await db["audit_seals"].count_documents({}) == seals  # not sealed
    body = (await logged.ok(VERIFY))["auditVerify"]
    assert body["ok"] is False and body["firstBadSequence"] == forged


async def test_an_entry_edited_before_it_is_sealed(
    logged: GraphQLClient, db: Db, services: Services, settings: Settings, tenant: Tenant
) -> None:
    fresh = await create_employee(logged)
    entry = await db["audit"].find_one({"record": fresh["id"]})
    assert entry is not None
    await db["audit"].update_one({"_id": entry["_id"]}, {"$set": {"actor.id": "nobody"}})
    before = _tampered(services)
    assert await _seal(services, settings, tenant) == 0
    assert _tampered(services) == before + 1
    assert await db["audit_seals"].count_documents({"to": {"$gte": entry["_id"]}}) == 0
    report = await _verify(services, settings, tenant)
    assert not report.ok and report.first_bad == entry["_id"]


async def test_an_outcome_changed_before_it_is_sealed(
    logged: GraphQLClient, db: Db, services: Services, settings: Settings, tenant: Tenant
) -> None:
    fresh = await create_employee(logged)
    entry = await db["audit"].find_one({"record": fresh["id"]})
    assert entry is not None
    await db["audit_outcomes"].update_one({"_id": entry["_id"]}, {"$set": {"outcome": "aborted"}})
    assert await _seal(services, settings, tenant) == 0
    report = await _verify(services, settings, tenant)
    assert not report.ok and report.first_bad == entry["_id"] and "outcome" in str(report.reason)


async def test_the_newest_entry_and_its_checkpoint_deleted(
    logged: GraphQLClient,
    db: Db,
    services: Services,
    settings: Settings,
    tenant: Tenant,
    tmp_path: Path,
) -> None:
    env = gateway_env(settings)
    fresh = await create_employee(logged)
    assert await _seal(services, settings, tenant) == 1
    exported = run_enclave(["audit", "heads", "--tenant", tenant.id], env)
    assert exported.returncode == 0, exported.stderr
    heads = tmp_path / "heads.jsonl"
    heads.write_text(exported.stdout)
    newest = json.loads(exported.stdout)
    assert newest["tenant"] == tenant.id and newest["signature"]

    entry = await db["audit"].find_one({"record": fresh["id"]})
    assert entry is not None and entry["_id"] == newest["seq"]
    await db["audit"].delete_one({"_id": entry["_id"]})
    await db["audit_outcomes"].delete_one({"_id": entry["_id"]})
    await db["audit_values"].delete_one({"_id": entry["values"]})
    await db["audit_seals"].delete_one({"to": entry["_id"]})

    # The database alone cannot show it (see the README): the heads kept outside it do.
    assert (await _verify(services, settings, tenant)).ok
    body = (await logged.ok(VERIFY))["auditVerify"]  # heads the gateways keep in Redis
    assert body["ok"] is False and body["firstBadSequence"] == entry["_id"]
    checked = run_enclave(["audit", "verify", "--tenant", tenant.id, "--heads", str(heads)], env)
    assert checked.returncode == 1
    assert json.loads(checked.stdout)["firstBad"] == entry["_id"]
    # Given only as an argument, the exported head is checked too.
    store = services.store.for_tenant(tenant.id)
    report = await store.seals.verify(settings.seal_key(), [SignedHead.from_json(newest)])
    assert not report.ok and report.first_bad == entry["_id"]
    assert await _seal(services, settings, tenant) == 0  # will not extend the shortened chain


async def test_a_head_with_a_forged_signature_is_refused(
    logged: GraphQLClient, services: Services, settings: Settings, tenant: Tenant
) -> None:
    store = services.store.for_tenant(tenant.id)
    head = await store.seals.head(settings.seal_key())
    assert head is not None
    body = await logged(
        "query($h: [AuditHeadInput!]) { auditVerify(heads: $h) { ok firstBadSequence reason } }",
        {
            "h": [
                {
                    "database": head.database,
                    "seq": head.seq + 5,
                    "head": head.value,
                    "keyId": head.key_id,
                    "signature": head.signature,
                }
            ]
        },
    )
    result = body["data"]["auditVerify"]
    assert result["ok"] is False and "signature" in result["reason"]


async def test_a_normal_history_verifies_with_its_heads_after_erasure(
    logged: GraphQLClient, services: Services, settings: Settings, tenant: Tenant, tmp_path: Path
) -> None:
    person = await create_employee(logged)
    await logged.ok(
        UPDATE_EMPLOYEE, {"id": person["id"], "v": 1, "input": {"phone": "+49 30 1234"}}
    )
    await _seal(services, settings, tenant)
    env = gateway_env(settings)
    first = run_enclave(["audit", "heads", "--tenant", tenant.id], env).stdout
    erased = await logged.ok(
        "mutation($e: String!) { eraseDataSubject(email: $e) { auditEntriesRedacted } }",
        {"e": person["workEmail"]},
    )
    assert erased["eraseDataSubject"]["auditEntriesRedacted"] >= 2
    assert await _seal(services, settings, tenant) >= 2
    second = run_enclave(["audit", "heads", "--tenant", tenant.id], env).stdout
    heads = tmp_path / "heads.jsonl"
    heads.write_text(first + second)
    checked = run_enclave(["audit", "verify", "--tenant", tenant.id, "--heads", str(heads)], env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["ok"] is True and report["unsealed"] == 0
    body = (await logged.ok(VERIFY))["auditVerify"]
    assert body["ok"] is True and body["unsealed"] == 0


async def test_the_reconciler_never_rolls_forward_a_forged_intent(
    logged: GraphQLClient, db: Db, services: Services, settings: Settings, tenant: Tenant
) -> None:
    victim = await create_employee(logged, jobTitle="Engineer")
    update = await logged.ok(
        UPDATE_EMPLOYEE, {"id": victim["id"], "v": 1, "input": {"jobTitle": "Manager"}}
    )
    assert update["updateEmployee"]["version"] == 2
    entry = await db["audit"].find_one({"record": victim["id"], "op": "update"})
    assert entry is not None
    last = await db["audit"].find_one({}, sort=[("_id", -1)])
    assert last is not None
    # Replay the update's values as a new, unsettled intent: "make it version 3".
    forged = last["_id"] + 1
    await db["audit"].insert_one(
        {
            **entry,
            "_id": forged,
            "version": 3,
            "claim": f"employees/{victim['id']}/3",
            "guard": "forged-intent",
            "leaseUntil": entry["at"],
        }
    )
    store = services.store.for_tenant(tenant.id)
    assert await store.audit.reconcile(older_than=dt.timedelta(0)) == 0
    assert await db["audit_outcomes"].find_one({"_id": forged}) is None
    record = await db["employees"].find_one({"_id": victim["id"]}, {"_v": 1})
    assert record is not None and record["_v"] == 2
    report = await _verify(services, settings, tenant)
    assert not report.ok and report.first_bad == forged


RECEIPT_CHECK = """query($h: [AuditHeadInput!]) {
  auditVerify(heads: $h) { ok firstBadSequence reason } }"""


def _inputs(receipts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: r[k] for k in ("database", "seq", "mac", "keyId", "signature")} for r in receipts]


async def test_receipts_in_answers_catch_an_unsealed_entry_dropped(
    logged: GraphQLClient, db: Db, tenant: Tenant
) -> None:
    response = await logged.raw(
        "mutation($i: EmployeeCreateInput!) { createEmployee(input: $i) { id } }",
        {"i": employee_input()},
    )
    body = response.json()
    receipts = body["extensions"]["audit"]
    created = body["data"]["createEmployee"]["id"]
    entry = await db["audit"].find_one({"record": created})
    assert entry is not None
    assert [(r["seq"], r["mac"]) for r in receipts] == [(entry["_id"], entry["mac"])]
    assert receipts[0]["database"] == database_name(tenant.id)
    ok = (await logged.ok(RECEIPT_CHECK, {"h": _inputs(receipts)}))["auditVerify"]
    assert ok == {"ok": True, "firstBadSequence": None, "reason": None}
    reads = await logged("{ employees(first: 1) { nodes { id } } }")
    assert "audit" not in (reads.get("extensions") or {})  # only for what was written

    # Dropped before any seal: nothing in the database or Redis knows of it; the receipt does.
    await db["audit"].delete_one({"_id": entry["_id"]})
    await db["audit_outcomes"].delete_one({"_id": entry["_id"]})
    bad = (await logged.ok(RECEIPT_CHECK, {"h": _inputs(receipts)}))["auditVerify"]
    assert bad["ok"] is False and bad["firstBadSequence"] == entry["_id"]
    forged = [{**receipts[0], "seq": receipts[0]["seq"] + 1}]
    refused = (await logged.ok(RECEIPT_CHECK, {"h": _inputs(forged)}))["auditVerify"]
    assert refused["ok"] is False and "signature" in refused["reason"]


def test_the_entry_key_comes_from_a_secret_outside_the_database(
    settings: Settings, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="audit entries need a key"):
        settings.model_copy(update={"audit_seal_key_file": None}).audit_mac()
    derived = settings.audit_mac()
    # An earlier seal key file given as the MAC key file keeps the same entry key.
    same = settings.model_copy(update={"audit_mac_key_file": settings.audit_seal_key_file})
    assert same.audit_mac().id == derived.id
    secret = tmp_path / "mac.key"
    secret.write_bytes(b"s" * 40)
    other = settings.model_copy(update={"audit_mac_key_file": secret}).audit_mac()
    assert other.id != derived.id
    secret.write_bytes(b"short")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        settings.model_copy(update={"audit_mac_key_file": secret}).audit_mac()
