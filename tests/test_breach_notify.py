"""Telling the people a breach concerns (issue 19, Art. 34): the list of affected data subjects
with only their email addresses, delivered only through the export machinery (export
permission, one-time signed link, audited, in the access log); the text to send holds no
value of any record."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
from starlette.applications import Starlette

from gateway.services import Services
from storage.values import AccessQuery, AuditQuery
from tests.support.client import GraphQLClient, make_tenant
from tests.support.clock import moment
from tests.support.employees import create_employee, marker
from tests.support.exports import download

CREATE_ROLE = "mutation($input: RoleInput!) { createRole(input: $input) { name } }"
CREATE_USER = """mutation($e: String!, $r: [String!]!, $x: Boolean!) {
  createUser(email: $e, roles: $r, canExport: $x) { id } }"""
CONTACT = """mutation($e: String!) { createContact(input: {firstName: "Ada",
  lastName: "Lovelace", email: $e, kind: CUSTOMER}) { id firstName email } }"""
NOTIFY = """mutation($c: [CompromisedInput!]!, $s: DateTime!, $u: DateTime, $f: ExportFormat!) {
  startBreachNotificationExport(compromised: $c, since: $s, until: $u, format: $f) {
    id datasheet columns total url } }"""
TEXT = """query($c: [CompromisedInput!]!, $s: DateTime!, $u: DateTime) {
  breachNotificationText(compromised: $c, since: $s, until: $u) }"""


async def test_the_notification_list_is_an_export_of_email_addresses_only(
    app: Starlette, http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "FR", "Notify Org")
    admin = GraphQLClient(http, tenant.token)
    employees = [await create_employee(admin) for _ in range(3)]
    contact = (await admin.ok(CONTACT, {"e": f"{marker('ada')}@example.net"}))["createContact"]
    sheets = [
        {"datasheet": "employees", "read": ["firstName", "lastName"]},
        {"datasheet": "contacts", "read": ["firstName"]},
    ]
    await admin.ok(CREATE_ROLE, {"input": {"name": "clerk", "sheets": sheets}})
    clerk_id = (
        await admin.ok(CREATE_USER, {"e": f"{marker('c')}@example.com", "r": ["clerk"], "x": False})
    )["createUser"]["id"]
    clerk = GraphQLClient(http, services.tokens.issue(tenant.id, clerk_id, []))
    notifier_id = (
        await admin.ok(CREATE_USER, {"e": f"{marker('n')}@example.com", "r": ["admin"], "x": True})
    )["createUser"]["id"]
    notifier = GraphQLClient(http, services.tokens.issue(tenant.id, notifier_id, []))
    flush = app.state.services.access.flush

    since = await moment()
    read = sorted(str(e["id"]) for e in employees[:2])
    for record in read:
        await clerk.ok(
            "query($id: ID!) { employee(id: $id) { id firstName lastName } }", {"id": record}
        )
    await clerk.ok("query($id: ID!) { contact(id: $id) { id firstName } }", {"id": contact["id"]})
    await flush()
    until = await moment()
    variables: dict[str, Any] = {
        "c": [{"kind": "USER", "id": clerk_id}],
        "s": since.isoformat(),
        "u": until.isoformat(),
        "f": "CSV",
    }

    # Only admins whose export permission is on.
    refused = await admin(NOTIFY, variables)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    refused = await clerk(NOTIFY, variables)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    job = (await notifier.ok(NOTIFY, variables))["startBreachNotificationExport"]
    assert job["columns"] == ["datasheet", "id", "workEmail", "personalEmail", "email"]
    assert job["total"] == 3
    response = await download(http, job["url"])
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    by_id = {e["id"]: e for e in employees}
    expected = [
        {"datasheet": "contacts", "id": contact["id"], "email": contact["email"]},
        *(
            {
                "datasheet": "employees",
                "id": record,
                "workEmail": by_id[record]["workEmail"],
                "personalEmail": by_id[record]["personalEmail"],
            }
            for record in read
        ),
    ]
    assert [{k: v for k, v in r.items() if v} for r in rows] == expected
    for unread in employees[2:]:
        assert unread["workEmail"] not in response.text
    for employee in employees[:2]:  # no other value of the records
        assert employee["firstName"] not in response.text
        assert employee["lastName"] not in response.text
    # One download only, like every export.
    assert (await download(http, job["url"])).status_code == 410

    # Audited as an export (start, download, end), and in the access log as the notifier's.
    await flush()
    store = services.store.for_tenant(tenant.id)
    audited, _ = await store.audit.page(AuditQuery(actor=notifier_id), first=20)
    ops = [e.op for e in audited if e.op.startswith("export")]
    assert ops == ["export_done", "export_download", "export"]
    assert all((e.detail or {}).get("job") == job["id"] for e in audited if e.op in ops)
    events, _ = await store.access_log.page(
        AccessQuery(principal=notifier_id, kind="export"), first=10
    )
    given = sorted((e.datasheet, e.fields, e.records) for e in events)
    assert given == [
        ("contacts", ("email",), (contact["id"],)),
        ("employees", ("personalEmail", "workEmail"), tuple(read)),
    ]

    # The text: the window and the kinds of data, no value of any record.
    del variables["f"]
    text = (await notifier.ok(TEXT, variables))["breachNotificationText"]
    assert "your name" in text and "contact details" not in text
    for record in [*employees, contact]:
        for value in record.values():
            if isinstance(value, str) and len(value) > 3:
                assert value not in text
