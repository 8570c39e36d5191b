"""The audit log: every mutation recorded, sealed in a signed hash chain, and tampering
done straight in the database detected and located."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from gateway.services import Services
from gateway.settings import Settings
from regions.routing import database_name
from storage.values import Actor
from tests.support.client import GraphQLClient, Tenant, make_tenant
from tests.support.employees import UPDATE_EMPLOYEE, create_employee
from tests.support.raw import plain_client
from tests.support.roles import make_user

Db = AsyncDatabase[dict[str, Any]]


@pytest.fixture
async def tenant(services: Services) -> Tenant:
    return await make_tenant(services, "DE", "Audit Org")


@pytest.fixture
async def logged(
    http: httpx.AsyncClient, tenant: Tenant, services: Services, settings: Settings
) -> Tenant:
    """A tenant with a handful of audited changes, all sealed."""
    admin = GraphQLClient(http, tenant.token)
    for _ in range(3):
        rec = await create_employee(admin)
    await admin.ok(UPDATE_EMPLOYEE, {"id": rec["id"], "v": 1, "input": {"salary": 1}})
    await admin.ok(f'mutation {{ deleteEmployee(id: "{rec["id"]}", expectedVersion: 2) {{ id }} }}')
    store = services.store.for_tenant(tenant.id)
    assert await store.seals.seal(settings.seal_key()) >= 6
    report = await store.seals.verify(settings.seal_key())
    assert report.ok and report.unsealed == 0 and report.entries == report.sealed_through
    return tenant


async def _tamper(
    settings: Settings, tenant: Tenant, change: Callable[[Db], Awaitable[Any]]
) -> None:
    client = plain_client(settings, "eu")
    try:
        await change(client[database_name(tenant.id)])
    finally:
        await client.close()


async def _verify(services: Services, settings: Settings, tenant: Tenant) -> Any:
    return await services.store.for_tenant(tenant.id).seals.verify(settings.seal_key())


async def test_every_mutation_has_an_entry_with_encrypted_values(
    logged: Tenant, settings: Settings
) -> None:
    async def check(db: Db) -> None:
        entries = await db["audit"].find({}, sort=[("_id", 1)]).to_list()
        ops = [(e["datasheet"], e["op"]) for e in entries]
        assert ops.count(("employees", "create")) == 3
        assert ("employees", "update") in ops and ("employees", "delete") in ops
        update = next(e for e in entries if e["op"] == "update")
        assert update["fields"] == ["salary"]
        assert update["actor"]["id"] == logged.admin_id and update["actor"]["roles"] == ["admin"]
        assert update["actor"]["requestId"]
        values = await db["audit_values"].find_one({"_id": update["values"]})
        assert values is not None and values["change"].subtype == 6

    await _tamper(settings, logged, check)


async def test_an_edited_entry_is_found(
    logged: Tenant, services: Services, settings: Settings
) -> None:
    await _tamper(
        settings,
        logged,
        lambda db: db["audit"].update_one({"_id": 3}, {"$set": {"fields": ["nothing"]}}),
    )
    report = await _verify(services, settings, logged)
    assert not report.ok and report.first_bad == 3 and "changed" in report.reason


async def test_a_deleted_entry_is_found(
    logged: Tenant, services: Services, settings: Settings
) -> None:
    await _tamper(settings, logged, lambda db: db["audit"].delete_one({"_id": 4}))
    report = await _verify(services, settings, logged)
    assert not report.ok and report.first_bad == 4 and "missing" in report.reason


async def test_the_last_sealed_entry_deleted_is_found(
    logged: Tenant, services: Services, settings: Settings
) -> None:
    last = (await _verify(services, settings, logged)).sealed_through
    await _tamper(settings, logged, lambda db: db["audit"].delete_one({"_id": last}))
    report = await _verify(services, settings, logged)
    assert not report.ok and report.first_bad == last


async def test_reordered_entries_are_found(
    logged: Tenant, services: Services, settings: Settings
) -> None:
    async def swap(db: Db) -> None:
        a = await db["audit"].find_one({"_id": 2})
        b = await db["audit"].find_one({"_id": 3})
        assert a is not None and b is not None
        await db["audit"].replace_one(
            {"_id": 2}, {**b, "_id": 2, "claim": "moving", "guard": "moving"}
        )
        await db["audit"].replace_one({"_id": 3}, {**a, "_id": 3})
        await db["audit"].update_one(
            {"_id": 2}, {"$set": {"claim": b["claim"], "guard": b["guard"]}}
        )

    await _tamper(settings, logged, swap)
    report = await _verify(services, settings, logged)
    assert not report.ok and report.first_bad == 2


async def test_an_inserted_entry_is_found(
    logged: Tenant, services: Services, settings: Settings
) -> None:
    async def insert(db: Db) -> None:
        forged = await db["audit"].find_one({"_id": 2})
        assert forged is not None
        await db["audit"].insert_one({**forged, "_id": 2.5, "claim": "forged", "guard": "forged"})

    await _tamper(settings, logged, insert)
    report = await _verify(services, settings, logged)
    assert not report.ok and report.first_bad == 3 and "should not be there" in report.reason


async def test_a_changed_outcome_is_found(
    logged: Tenant, services: Services, settings: Settings
) -> None:
    await _tamper(
        settings,
        logged,
        lambda db: db["audit_outcomes"].update_one({"_id": 5}, {"$set": {"outcome": "failed"}}),
    )
    report = await _verify(services, settings, logged)
    assert not report.ok and report.first_bad == 5


async def test_swapped_values_are_found(
    logged: Tenant, services: Services, settings: Settings
) -> None:
    async def swap(db: Db) -> None:
        e2 = await db["audit"].find_one({"_id": 2})
        e3 = await db["audit"].find_one({"_id": 3})
        assert e2 is not None and e3 is not None
        v3 = await db["audit_values"].find_one({"_id": e3["values"]})
        assert v3 is not None
        await db["audit_values"].update_one(
            {"_id": e2["values"]}, {"$set": {"change": v3["change"]}}
        )

    await _tamper(settings, logged, swap)
    report = await _verify(services, settings, logged)
    assert not report.ok and report.first_bad == 2 and "values" in report.reason


async def test_a_forged_checkpoint_is_found(
    logged: Tenant, services: Services, settings: Settings
) -> None:
    async def forge(db: Db) -> None:
        seal = await db["audit_seals"].find_one({})
        assert seal is not None
        digests = list(seal["digests"])
        digests[1] = "0" * 64
        await db["audit_seals"].update_one({"_id": seal["_id"]}, {"$set": {"digests": digests}})

    await _tamper(settings, logged, forge)
    report = await _verify(services, settings, logged)
    assert not report.ok and "checkpoint" in report.reason


async def test_audit_verify_over_graphql_and_unsealed_entries(
    logged: Tenant, http: httpx.AsyncClient
) -> None:
    admin = GraphQLClient(http, logged.token)
    await create_employee(admin)
    body = await admin.ok("{ auditVerify { ok entries sealedThrough unsealed firstBadSequence } }")
    result = body["auditVerify"]
    assert result["ok"] is True and result["firstBadSequence"] is None
    assert result["unsealed"] == 1 and result["entries"] == result["sealedThrough"] + 1


async def test_refused_and_failed_attempts_are_audited(
    tenant: Tenant, http: httpx.AsyncClient, settings: Settings, services: Services
) -> None:
    admin = GraphQLClient(http, tenant.token)
    rec = await create_employee(admin)
    stale = await admin(UPDATE_EMPLOYEE, {"id": rec["id"], "v": 7, "input": {"salary": 9}})
    assert stale["errors"][0]["extensions"]["code"] == "CONFLICT"
    missing = await admin(UPDATE_EMPLOYEE, {"id": "nope", "v": 1, "input": {"phone": "1"}})
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    await admin.ok(
        'mutation { createRole(input: {name: "ro", sheets: [{datasheet: "employees", '
        'read: ["firstName"]}]}) { name } }'
    )
    ro, _ = await make_user(admin, services, tenant, "ro@example.com", ["ro"])
    refused = await ro(UPDATE_EMPLOYEE, {"id": rec["id"], "v": 1, "input": {"salary": 1}})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    async def check(db: Db) -> None:
        attempts = await db["audit"].find({"op": "attempt"}, sort=[("_id", 1)]).to_list()
        seen = [(a["operation"], a["record"], a["fields"]) for a in attempts]
        assert ("updateEmployee", rec["id"], ["salary"]) in seen
        assert ("updateEmployee", None, ["phone"]) in seen  # "nope" is no record id
        codes = {
            o["code"]
            async for o in db["audit_outcomes"].find({"_id": {"$in": [a["_id"] for a in attempts]}})
        }
        assert {"CONFLICT", "NOT_FOUND", "FORBIDDEN"} <= codes
        for a in attempts:
            assert "9" not in str(a["fields"])  # names only, never values

    await _tamper(settings, tenant, check)
    store = services.store.for_tenant(tenant.id)
    await store.seals.seal(settings.seal_key())
    assert (await store.seals.verify(settings.seal_key())).ok


LOG = """query($f: AuditFilter, $first: Int!, $after: String) {
  auditLog(first: $first, after: $after, filter: $f) {
    nodes { sequence operation datasheet record version fields outcome code redacted ip
            actorId changes { field before after } }
    pageInfo { hasNextPage endCursor } } }"""


async def test_reading_the_log_with_filters_and_paging(
    tenant: Tenant, http: httpx.AsyncClient, services: Services
) -> None:
    admin = GraphQLClient(http, tenant.token)
    rec = await create_employee(admin, salary=100)
    await admin.ok(UPDATE_EMPLOYEE, {"id": rec["id"], "v": 1, "input": {"salary": 200}})
    await admin(UPDATE_EMPLOYEE, {"id": rec["id"], "v": 1, "input": {"salary": 300}})  # stale
    mine = await admin.ok(LOG, {"first": 10, "f": {"record": rec["id"]}})
    nodes = mine["auditLog"]["nodes"]
    assert [n["operation"] for n in nodes] == ["updateEmployee", "update", "create"]
    assert [n["outcome"] for n in nodes] == ["refused", "committed", "committed"]
    assert nodes[0]["code"] == "CONFLICT" and nodes[0]["changes"] == []
    assert {"field": "salary", "before": 100, "after": 200} in nodes[1]["changes"]
    assert nodes[1]["ip"] == "127.0.0.1"  # admins see where a change came from
    refused = await admin.ok(LOG, {"first": 10, "f": {"outcome": "refused"}})
    assert [n["sequence"] for n in refused["auditLog"]["nodes"]] == [nodes[0]["sequence"]]
    # Keyset paging, one at a time, newest first, no repeats.
    seen: list[int] = []
    after = None
    while True:
        page = (await admin.ok(LOG, {"first": 1, "after": after}))["auditLog"]
        seen += [n["sequence"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == 4

    await admin.ok(
        'mutation { createRole(input: {name: "aud", sheets: [{datasheet: "employees", '
        'read: ["firstName", "jobTitle"]}]}) { name } }'
    )
    reader, _ = await make_user(admin, services, tenant, "aud@example.com", ["aud"])
    scoped = await reader.ok(
        LOG, {"first": 10, "f": {"datasheet": "employees", "record": rec["id"]}}
    )
    create = scoped["auditLog"]["nodes"][-1]
    assert {c["field"] for c in create["changes"]} <= {"firstName", "jobTitle"}
    assert create["ip"] is None
    # The salary the reader may not read appears in no change (ids are hex: no substring test).
    values = [v for n in scoped["auditLog"]["nodes"] for c in n["changes"] for v in c.values()]
    assert "salary" not in values and 100 not in values and "100" not in values
    whole = await reader(LOG, {"first": 10})
    assert whole["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_redacted_values_and_the_chain_still_verifies(
    tenant: Tenant, http: httpx.AsyncClient, services: Services, settings: Settings
) -> None:
    admin = GraphQLClient(http, tenant.token)
    rec = await create_employee(admin)
    await admin.ok(UPDATE_EMPLOYEE, {"id": rec["id"], "v": 1, "input": {"phone": "+1 555"}})
    store = services.store.for_tenant(tenant.id)
    await store.seals.seal(settings.seal_key())
    actor = Actor(user_id=tenant.admin_id, roles=("admin",))
    assert await store.audit.redact([rec["id"]], actor) == 2
    await store.seals.seal(settings.seal_key())
    report = await store.seals.verify(settings.seal_key())
    assert report.ok, report
    logged = await admin.ok(LOG, {"first": 10, "f": {"record": rec["id"]}})
    assert all(n["redacted"] and n["changes"] == [] for n in logged["auditLog"]["nodes"])
    assert rec["lastName"] not in str(logged)

    # Values removed without a redaction entry are found.
    other = await create_employee(admin)

    async def strip(db: Db) -> None:
        entry = await db["audit"].find_one({"record": other["id"]})
        assert entry is not None
        await db["audit_values"].update_one(
            {"_id": entry["values"]}, {"$set": {"redacted": True}, "$unset": {"change": ""}}
        )

    await _tamper(settings, tenant, strip)
    bad = await store.seals.verify(settings.seal_key())
    assert not bad.ok and "without a redaction" in str(bad.reason)


async def test_refused_mutations_inside_fragments_are_audited(
    tenant: Tenant, http: httpx.AsyncClient, settings: Settings
) -> None:
    admin = GraphQLClient(http, tenant.token)
    missing = "01M81KTK58R9JDRYNZ7F3HPA00"
    inline = await admin(
        f'mutation {{ ... on Mutation {{ updateEmployee(id: "{missing}", expectedVersion: 1, '
        'input: {jobTitle: "x"}) { id } } }'
    )
    named = await admin(
        f'mutation {{ ...M }} fragment M on Mutation {{ deleteEmployee(id: "{missing}", '
        "expectedVersion: 1) { id } }"
    )
    odd = await admin(
        'mutation { updateEmployee(id: "jane.doe@example.com", expectedVersion: 1, '
        'input: {jobTitle: "x"}) { id } }'
    )
    for body in (inline, named, odd):
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"

    async def check(db: Db) -> None:
        attempts = await db["audit"].find({"op": "attempt"}).to_list()
        seen = {(a["operation"], a["record"]) for a in attempts}
        assert ("updateEmployee", missing) in seen and ("deleteEmployee", missing) in seen
        # Caller text that is not a record id is not kept (entries cannot be redacted).
        assert ("updateEmployee", None) in seen
        assert all("jane.doe" not in str(a) for a in attempts)

    await _tamper(settings, tenant, check)


async def test_attempts_keep_no_free_text_from_the_caller(
    tenant: Tenant, http: httpx.AsyncClient, settings: Settings
) -> None:
    admin = GraphQLClient(http, tenant.token)
    response = await http.post(
        "/graphql",
        json={"query": "mutation { janeDoeSECRET(id: 1) }"},
        headers={"authorization": f"Bearer {tenant.token}", "x-request-id": "SSN-SECRET-RID"},
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert response.headers["x-request-id"] != "SSN-SECRET-RID"
    broken = await admin("mutation { deleteEmployee(id: ")
    assert broken["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

    async def check(db: Db) -> None:
        attempts = await db["audit"].find({"op": "attempt"}).to_list()
        operations = {a["operation"] for a in attempts}
        assert {"unknown", "unparsable"} <= operations
        assert "SECRET" not in str(attempts)

    await _tamper(settings, tenant, check)


async def test_audit_values_only_of_fields_readable_on_every_row(
    tenant: Tenant, http: httpx.AsyncClient, services: Services
) -> None:
    admin = GraphQLClient(http, tenant.token)
    eng = await create_employee(admin, department="Engineering", salary=65432)
    await admin.ok(
        'mutation { createRole(input: {name: "names-all", sheets: [{datasheet: "employees", '
        'read: ["firstName"]}]}) { name } }'
    )
    await admin.ok(
        'mutation { createRole(input: {name: "sales-pay", sheets: [{datasheet: "employees", '
        'read: ["salary", "department"], rowFilter: {equals: [{field: "department", '
        'value: "Sales"}]}}]}) { name } }'
    )
    both, _ = await make_user(
        admin, services, tenant, "both@example.com", ["names-all", "sales-pay"]
    )
    log = await both.ok(LOG, {"first": 10, "f": {"datasheet": "employees", "record": eng["id"]}})
    changes = log["auditLog"]["nodes"][-1]["changes"]
    assert {c["field"] for c in changes} <= {"firstName"}
    assert "65432" not in str(log)
