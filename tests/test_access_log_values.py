"""Personal data given through the audit log or the user list is in the access log, as a
read of the same record through the records API is."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.services import Services
from tests.support.client import GraphQLClient, Tenant, make_tenant
from tests.support.employees import create_employee
from tests.support.roles import make_role, make_user

RECORD_ACCESS = """query($sheet: String!, $id: ID!) { recordAccess(datasheet: $sheet, id: $id) {
  nodes { kind principal fields records } } }"""
PRINCIPAL_ACCESS = """query($p: ID!, $s: DateTime!, $u: DateTime!) {
  principalAccess(principal: $p, since: $s, until: $u) { nodes { datasheet fields records } } }"""
AUDIT = """query($id: ID!) { auditLog(filter: {datasheet: "employees", record: $id}) {
  nodes { record changes { %s } } } }"""


@pytest.fixture
async def tenant(services: Services) -> Tenant:
    return await make_tenant(services, "DE", "Access Values Org")


async def _events(
    admin: GraphQLClient, app: Starlette, principal: str, since: dt.datetime
) -> list[dict[str, Any]]:
    await app.state.services.access.flush()
    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    data = await admin.ok(
        PRINCIPAL_ACCESS, {"p": principal, "s": since.isoformat(), "u": until.isoformat()}
    )
    nodes: list[dict[str, Any]] = data["principalAccess"]["nodes"]
    return nodes


async def test_audit_log_values_are_recorded_as_reads(
    tenant: Tenant, http: httpx.AsyncClient, services: Services, app: Starlette
) -> None:
    admin = GraphQLClient(http, tenant.token)
    record = await create_employee(admin)
    role = f"auditor{uuid.uuid4().hex[:6]}"
    await make_role(admin, role, read=["firstName", "lastName"])
    auditor, user = await make_user(admin, services, tenant, f"{role}@x.example", [role])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)

    names_only = await auditor.ok(AUDIT % "field", {"id": record["id"]})
    assert names_only["auditLog"]["nodes"], names_only
    assert await _events(admin, app, user["id"], start) == []  # field names: no values

    values = await auditor.ok(AUDIT % "field after", {"id": record["id"]})
    given = {c["field"] for n in values["auditLog"]["nodes"] for c in n["changes"]}
    assert given == {"firstName", "lastName"}
    events = await _events(admin, app, user["id"], start)
    assert events == [
        {"datasheet": "employees", "fields": ["firstName", "lastName"], "records": [record["id"]]}
    ]
    seen = await admin.ok(RECORD_ACCESS, {"sheet": "employees", "id": record["id"]})
    assert user["id"] in {n["principal"] for n in seen["recordAccess"]["nodes"]}


async def test_user_emails_are_recorded_as_reads(
    tenant: Tenant, http: httpx.AsyncClient, services: Services, app: Starlette
) -> None:
    admin = GraphQLClient(http, tenant.token)
    await make_role(admin, "staff")
    _, user = await make_user(
        admin, services, tenant, f"u{uuid.uuid4().hex[:6]}@x.example", ["staff"]
    )
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await admin.ok("{ users { id roles } }")
    assert await _events(admin, app, tenant.admin_id, start) == []
    await admin.ok("{ users { id email } }")
    events = await _events(admin, app, tenant.admin_id, start)
    assert [(e["datasheet"], e["fields"]) for e in events] == [("users", ["email"])]
    assert {user["id"], tenant.admin_id} <= set(events[0]["records"])


async def test_client_addresses_given_are_recorded_as_reads(
    tenant: Tenant, http: httpx.AsyncClient, app: Starlette
) -> None:
    admin = GraphQLClient(http, tenant.token)
    await admin.ok("{ me { id } }")  # the token's first use: a login with the client
    await app.state.services.access.flush()
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await admin.ok("{ loginHistory { nodes { principal } } }")
    assert await _events(admin, app, tenant.admin_id, start) == []
    logins = await admin.ok("{ loginHistory { nodes { principal ip } } }")
    assert any(n["ip"] for n in logins["loginHistory"]["nodes"]), logins
    events = await _events(admin, app, tenant.admin_id, start)
    assert [(e["datasheet"], e["fields"]) for e in events] == [("users", ["ip"])]
    assert tenant.admin_id in events[0]["records"]
