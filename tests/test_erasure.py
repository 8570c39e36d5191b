"""Erasure of a data subject: every record with their email in any datasheet is deleted,
their audit entries' values are redacted, the chain still verifies, the report says what
went, and the erasure is audited without the email."""

from __future__ import annotations

from typing import Any

import bson
import httpx
import pytest

from gateway.services import Services
from gateway.settings import Settings
from storage.mongo.erasure import MongoErasure
from storage.values import Actor, AuditQuery
from tests.support.client import GraphQLClient, make_tenant
from tests.support.employees import UPDATE_EMPLOYEE, create_employee, marker
from tests.support.exports import START, exporter
from tests.support.raw import plain_client

ERASE = """
mutation($e: String!) { eraseDataSubject(email: $e) {
  records { datasheet ids count } total auditEntriesRedacted auditEntry } }"""
CONTACT = """
mutation($e: String!) { createContact(input: {firstName: "Ada", lastName: "Lovelace",
  email: $e, kind: CUSTOMER}) { id } }"""
APPLICANT = """
mutation($e: String!) { createJobApplicant(input: {firstName: "Ada", lastName: "Lovelace",
  email: $e, position: "Analyst", stage: APPLIED}) { id } }"""
VERIFY = "query { auditVerify { ok firstBadSequence reason unsealed } }"


async def test_erase_a_person_everywhere(
    settings: Settings, services: Services, http: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(services, "BE")
    admin = GraphQLClient(http, tenant.token)
    email = f"{marker('ada')}@example.com"
    work = await create_employee(admin, workEmail=email)
    home = await create_employee(admin, personalEmail=email.upper())  # normalised the same
    await admin.ok(UPDATE_EMPLOYEE, {"id": work["id"], "v": 1, "input": {"phone": "+32 1"}})
    contact = (await admin.ok(CONTACT, {"e": email}))["createContact"]["id"]
    applicant = (await admin.ok(APPLICANT, {"e": email}))["createJobApplicant"]["id"]
    bystander = await create_employee(admin)

    # Bad input and other roles change nothing.
    bad = await admin(ERASE, {"e": "not an email"})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    made = await admin.ok('mutation { createUser(email: "clerk@example.com", roles: []) { id } }')
    clerk = GraphQLClient(http, services.tokens.issue(tenant.id, made["createUser"]["id"], []))
    refused = await clerk(ERASE, {"e": email})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    report = (await admin.ok(ERASE, {"e": email.capitalize()}))["eraseDataSubject"]
    by_sheet = {r["datasheet"]: sorted(r["ids"]) for r in report["records"]}
    assert by_sheet == {
        "employees": sorted([work["id"], home["id"]]),
        "contacts": [contact],
        "applicants": [applicant],
    }
    assert report["total"] == 4
    # create x4, update, delete x4: every entry about these records that holds values.
    assert report["auditEntriesRedacted"] == 9

    raw = plain_client(settings, "eu")
    try:
        db = raw[f"tenant_{tenant.id}"]
        for sheet, ids in by_sheet.items():
            assert await db[sheet].count_documents({"_id": {"$in": ids}}) == 0
        assert await db.employees.count_documents({"_id": bystander["id"]}) == 1
        # The erasure's own entry names records and counts, never the person.
        entry = await db.audit.find_one({"_id": report["auditEntry"]})
        assert entry is not None and entry["op"] == "erase"
        assert entry["detail"]["auditEntriesRedacted"] == 9
        everything = b"".join(
            [bson.encode(d) for name in ("audit", "audit_values") for d in await _all(db[name])]
        )
        assert email.encode() not in everything
        assert email.split("@")[0].encode() not in everything
        redacted = await db.audit_values.count_documents({"redacted": True})
        assert redacted == 9
    finally:
        await raw.close()

    # The values are gone from the log, and the chain still verifies.
    await services.store.for_tenant(tenant.id).seals.seal(settings.seal_key())
    verified = (await admin.ok(VERIFY))["auditVerify"]
    assert verified["ok"] and verified["firstBadSequence"] is None, verified
    history = await admin.ok(
        "query($r: ID!) { auditLog(first: 10, filter: {record: $r}) { nodes { redacted "
        "changes { field } } } }",
        {"r": work["id"]},
    )
    nodes = history["auditLog"]["nodes"]
    assert len(nodes) == 3 and all(n["redacted"] and n["changes"] == [] for n in nodes)

    # Erasing again finds nothing, and says so.
    again = (await admin.ok(ERASE, {"e": email}))["eraseDataSubject"]
    assert again["total"] == 0 and again["records"] == [] and again["auditEntriesRedacted"] == 0


async def test_erasure_redacts_subject_access_and_exports_filtered_by_the_email(
    settings: Settings, services: Services, http: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(services, "BE")
    admin = GraphQLClient(http, tenant.token)
    email = f"{marker('erin')}@example.com"
    await create_employee(admin, workEmail=email)
    await admin.ok("mutation($e: String!) { subjectAccess(email: $e) }", {"e": email.upper()})
    client, _ = await exporter(admin, services, tenant, "erx", read=["workEmail"], export=True)
    flt = [{"field": "workEmail", "value": email}]
    job = (await client.ok(START, {"sheet": "employees", "format": "CSV", "filter": flt}))[
        "startExport"
    ]
    report = (await admin.ok(ERASE, {"e": email}))["eraseDataSubject"]
    # create and delete of the record, the subject access request, the export.
    assert report["auditEntriesRedacted"] == 4

    page, _ = await services.store.for_tenant(tenant.id).audit.page(
        AuditQuery(), first=500, with_values=True
    )
    assert [e.seq for e in page if email in repr((e.before, e.after))] == []
    await services.store.for_tenant(tenant.id).seals.seal(settings.seal_key())
    assert (await admin.ok(VERIFY))["auditVerify"]["ok"]
    # The export job filtered by the email is gone too (its link would find nothing).
    assert await services.store.for_tenant(tenant.id).exports.get(job["id"]) is None


async def _all(collection: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await collection.find().to_list()
    return found


async def test_erasure_rerun_after_a_crash_redacts_what_the_first_run_deleted(
    services: Services, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await make_tenant(services, "BE")
    admin = GraphQLClient(http, tenant.token)
    email = f"{marker('crash')}@example.com"
    record = await create_employee(admin, workEmail=email)
    store = services.store.for_tenant(tenant.id)
    actor = Actor(tenant.admin_id, roles=("admin",))

    async def crash(*_: object) -> int:
        raise RuntimeError("the gateway died here")

    # The first erasure deletes the record, then dies before redacting its history.
    with monkeypatch.context() as patch:
        patch.setattr(MongoErasure, "_redact", crash)
        with pytest.raises(RuntimeError):
            await store.erasure.erase(email, actor)
    report = (await admin.ok(ERASE, {"e": email}))["eraseDataSubject"]
    assert report["records"] == [{"datasheet": "employees", "ids": [record["id"]], "count": 1}]
    assert report["auditEntriesRedacted"] == 2  # its creation and its deletion
    page, _ = await store.audit.page(AuditQuery(record=record["id"]), first=10, with_values=True)
    assert page and all(e.redacted and not e.before and not e.after for e in page)
