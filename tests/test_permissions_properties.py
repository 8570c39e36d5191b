"""Property-based: for random roles, exactly the permitted fields come back and everything
else is refused, for reads, writes and introspection."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.services import Services
from resolvers.authz.policy import META_FIELDS
from schema.datasheets import FieldType, datasheet
from tests.support.client import GraphQLClient, Tenant, make_tenant
from tests.support.employees import create_employee
from tests.support.roles import make_role, make_user

EMPLOYEES = datasheet("employees")
NAMES = [f.name for f in EMPLOYEES.fields]
MASKABLE = [f.name for f in EMPLOYEES.fields if f.type in (FieldType.STRING, FieldType.EMAIL)]
# Values an update may set for each field (valid for the field's type).
NEW_VALUES: dict[str, Any] = {
    "firstName": "Newfirst",
    "lastName": "Newlast",
    "workEmail": "new@work.example",
    "personalEmail": "new@home.example",
    "phone": "+1 555 0100",
    "dateOfBirth": "1985-05-05",
    "nationalId": "NEW123",
    "address": "1 New Road",
    "jobTitle": "New title",
    "department": "New dept",
    "salary": 123,
    "startDate": "2024-02-02",
    "status": "ON_LEAVE",
}

roles = st.fixed_dictionaries(
    {
        "read": st.sets(st.sampled_from(NAMES)),
        "mask": st.sets(st.sampled_from(MASKABLE)),
        "write": st.sets(st.sampled_from(NAMES)),
    }
).map(lambda r: {**r, "mask": r["mask"] - r["read"]})
selections = st.sets(st.sampled_from(NAMES), min_size=1)
PROPS = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
async def tenant(services: Services) -> Tenant:
    return await make_tenant(services, "DE", "Property Org")


@pytest.fixture(scope="module")
async def record(http: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    return await create_employee(GraphQLClient(http, tenant.token))


async def _caller(
    http: httpx.AsyncClient, services: Services, tenant: Tenant, role: dict[str, set[str]]
) -> GraphQLClient:
    admin = GraphQLClient(http, tenant.token)
    name = f"p{uuid.uuid4().hex[:10]}"
    await make_role(admin, name, **{k: sorted(v) for k, v in role.items()})
    caller, _ = await make_user(admin, services, tenant, f"{name}@example.com", [name])
    return caller


@PROPS
@given(role=roles, selected=selections)
async def test_reads_return_exactly_what_is_permitted(
    http: httpx.AsyncClient,
    services: Services,
    tenant: Tenant,
    record: dict[str, Any],
    role: dict[str, set[str]],
    selected: set[str],
) -> None:
    caller = await _caller(http, services, tenant, role)
    visible = role["read"] | role["mask"]
    body = await caller(f'{{ employee(id: "{record["id"]}") {{ {" ".join(sorted(selected))} }} }}')
    if selected <= visible:
        assert "errors" not in body, body
        got = body["data"]["employee"]
        assert set(got) == selected
        for name in selected & role["read"]:
            assert got[name] == record[name]
        for name in selected & role["mask"]:
            assert record[name] is None or got[name] != record[name]
    else:
        assert body["data"] is None
        refused = {e["extensions"]["field"] for e in body["errors"]}
        assert refused == {f"Employee.{n}" for n in selected - visible}
        assert all(e["extensions"]["code"] == "FORBIDDEN" for e in body["errors"])


@PROPS
@given(role=roles, written=selections)
async def test_writes_succeed_exactly_when_permitted(
    http: httpx.AsyncClient,
    services: Services,
    tenant: Tenant,
    role: dict[str, set[str]],
    written: set[str],
) -> None:
    admin = GraphQLClient(http, tenant.token)
    target = await create_employee(admin)
    caller = await _caller(http, services, tenant, role)
    update = """mutation($id: ID!, $input: EmployeeUpdateInput!) {
      updateEmployee(id: $id, expectedVersion: 1, input: $input) { id version } }"""
    body = await caller(update, {"id": target["id"], "input": {n: NEW_VALUES[n] for n in written}})
    after = await admin.ok(f'{{ employee(id: "{target["id"]}") {{ version {" ".join(NAMES)} }} }}')
    if role["write"] and written <= role["write"]:
        assert "errors" not in body, body
        assert after["employee"]["version"] == 2
        for name in written:
            assert after["employee"][name] == NEW_VALUES[name]
    else:
        assert (body["data"] or {}).get("updateEmployee") is None
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert after["employee"] == {"version": 1, **{n: target[n] for n in NAMES}}


@PROPS
@given(role=roles)
async def test_introspection_matches_the_policy(
    http: httpx.AsyncClient, services: Services, tenant: Tenant, role: dict[str, set[str]]
) -> None:
    caller = await _caller(http, services, tenant, role)
    body = await caller.ok(
        '{ o: __type(name: "Employee") { fields { name } } '
        'u: __type(name: "EmployeeUpdateInput") { inputFields { name } } '
        'f: __type(name: "EmployeeFilter") { inputFields { name } } }'
    )
    # The role lists the datasheet (if with nothing in it), so its records' ids are visible.
    visible = role["read"] | role["mask"]
    shown = {f["name"] for f in body["o"]["fields"]}
    assert shown == (META_FIELDS - {"__typename"}) | visible
    if role["write"]:
        assert {f["name"] for f in body["u"]["inputFields"]} == role["write"]
    else:  # no update allowed: its input type is unreachable, so unknown to the caller
        assert body["u"] is None
    filterable = {f.name for f in EMPLOYEES.fields if f.filterable}
    assert {f["name"] for f in body["f"]["inputFields"]} == role["read"] & filterable
