"""Subject access: every record about one person, with its audit history, for admins."""

from __future__ import annotations

import httpx

from gateway.services import Services
from gateway.settings import Settings
from regions.routing import database_name
from tests.support.client import GraphQLClient, make_tenant
from tests.support.employees import UPDATE_EMPLOYEE, create_employee, marker
from tests.support.raw import plain_client, raw_bytes
from tests.support.roles import make_role, make_user

SUBJECT = "mutation($email: String!) { subjectAccess(email: $email) }"


async def test_subject_access_collects_every_record_and_its_history(
    http: httpx.AsyncClient, services: Services, settings: Settings
) -> None:
    tenant = await make_tenant(services, "IT", "Subject Org")
    admin = GraphQLClient(http, tenant.token)
    email = f"{marker('subject')}@person.example"
    employee = await create_employee(admin, personalEmail=email)
    await create_employee(admin)  # someone else
    await admin.ok(UPDATE_EMPLOYEE, {"id": employee["id"], "v": 1, "input": {"salary": 70000}})
    contact = await admin.ok(
        """mutation($email: String) { createContact(input: {firstName: "Ada", lastName: "L",
        email: $email, kind: OTHER}) { id } }""",
        {"email": email},
    )
    applicant = await admin.ok(
        """mutation($email: String!) { createJobApplicant(input: {firstName: "Ada", lastName: "L",
        email: $email, position: "Dev", stage: APPLIED}) { id } }""",
        {"email": email},
    )

    document = (await admin.ok(SUBJECT, {"email": email.upper()}))["subjectAccess"]
    assert document["subject"] == {"email": email}
    sheets = document["datasheets"]
    assert [r["id"] for r in sheets["employees"]] == [employee["id"]]
    assert [r["id"] for r in sheets["contacts"]] == [contact["createContact"]["id"]]
    assert [r["id"] for r in sheets["applicants"]] == [applicant["createJobApplicant"]["id"]]
    record = sheets["employees"][0]
    assert record["personalEmail"] == email and record["salary"] == 70000
    assert record["dateOfBirth"] == "1990-04-01"
    history = record["history"]
    assert [h["operation"] for h in history] == ["create", "update"]
    assert history[1]["after"] == {"salary": 70000}

    # Audited, the email kept encrypted.
    raw = plain_client(settings, "eu")
    try:
        db = raw[database_name(tenant.id)]
        entry = await db["audit"].find_one({"op": "subject_access"})
        assert entry is not None
        assert entry["detail"]["records"]["employees"] == [employee["id"]]
        assert email.encode() not in raw_bytes(entry)
    finally:
        await raw.aclose()

    # Admins only.
    await make_role(admin, "reader", read=["firstName"])
    user, _ = await make_user(admin, services, tenant, "reader@subject.example", ["reader"])
    body = await user(SUBJECT, {"email": email})
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    bad = await admin(SUBJECT, {"email": "not an email"})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
