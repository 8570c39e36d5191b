"""The records API over HTTP: create, read, page, filter, update, archive, delete."""

from __future__ import annotations

import pytest

from tests.support.client import GraphQLClient
from tests.support.employees import (
    EMPLOYEE_FIELDS,
    UPDATE_EMPLOYEE,
    create_employee,
    employee_input,
    marker,
)

LIST = """
query($first: Int, $after: String, $filter: EmployeeFilter, $arch: Boolean! = false) {
  employees(first: $first, after: $after, filter: $filter, includeArchived: $arch) {
    nodes { id lastName department archived }
    edges { cursor node { id } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def test_create_then_get_returns_every_value(eu: GraphQLClient) -> None:
    values = employee_input()
    created = await create_employee(eu, **values)
    assert created["version"] == 1
    assert created["archived"] is False
    for name, value in values.items():
        assert created[name] == value, name
    fetched = await eu.ok(f'{{ employee(id: "{created["id"]}") {{ {EMPLOYEE_FIELDS} }} }}')
    assert fetched["employee"] == created


async def test_optional_fields_may_be_omitted(eu: GraphQLClient) -> None:
    created = await create_employee(eu, personalEmail=None, phone=None, salary=None)
    assert created["personalEmail"] is None and created["salary"] is None


async def test_keyset_paging_is_stable_across_inserts_and_deletes(eu: GraphQLClient) -> None:
    dept = marker("paging")
    ids = [(await create_employee(eu, department=dept))["id"] for _ in range(7)]
    flt = {"department": dept}
    first = (await eu.ok(LIST, {"first": 3, "filter": flt}))["employees"]
    assert [n["id"] for n in first["nodes"]] == ids[:3]
    assert [e["cursor"] for e in first["edges"]][-1] == first["pageInfo"]["endCursor"]
    assert first["pageInfo"]["hasNextPage"] is True

    # A record deleted before the cursor and one added after it change nothing for the rest.
    deleted = await eu.ok(
        f'mutation {{ deleteEmployee(id: "{ids[0]}", expectedVersion: 1) {{ id version }} }}'
    )
    assert deleted["deleteEmployee"] == {"id": ids[0], "version": 2}
    late = (await create_employee(eu, department=dept))["id"]
    after = first["pageInfo"]["endCursor"]
    second = (await eu.ok(LIST, {"first": 3, "after": after, "filter": flt}))["employees"]
    assert [n["id"] for n in second["nodes"]] == ids[3:6]
    third = (
        await eu.ok(LIST, {"first": 3, "after": second["pageInfo"]["endCursor"], "filter": flt})
    )["employees"]
    assert [n["id"] for n in third["nodes"]] == [ids[6], late]
    assert third["pageInfo"]["hasNextPage"] is False


async def test_filter_on_deterministic_encrypted_field(eu: GraphQLClient) -> None:
    last = marker("Surname")
    target = await create_employee(eu, lastName=last)
    await create_employee(eu)
    found = await eu.ok(LIST, {"filter": {"lastName": last}})
    assert [n["id"] for n in found["employees"]["nodes"]] == [target["id"]]


async def test_filter_on_random_encrypted_field_is_not_offered(eu: GraphQLClient) -> None:
    body = await eu('{ employees(filter: {firstName: "x"}) { nodes { id } } }')
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_archived_records_are_left_out_unless_asked_for(eu: GraphQLClient) -> None:
    dept = marker("archive")
    rec = await create_employee(eu, department=dept)
    archived = await eu.ok(
        f'mutation {{ archiveEmployee(id: "{rec["id"]}", expectedVersion: 1) '
        "{ version archived } }"
    )
    assert archived["archiveEmployee"] == {"version": 2, "archived": True}
    flt = {"department": dept}
    assert (await eu.ok(LIST, {"filter": flt}))["employees"]["nodes"] == []
    listed = await eu.ok(LIST, {"filter": flt, "arch": True})
    assert [n["id"] for n in listed["employees"]["nodes"]] == [rec["id"]]
    restored = await eu.ok(
        f'mutation {{ restoreEmployee(id: "{rec["id"]}", expectedVersion: 2) '
        "{ version archived } }"
    )
    assert restored["restoreEmployee"] == {"version": 3, "archived": False}
    assert len((await eu.ok(LIST, {"filter": flt}))["employees"]["nodes"]) == 1


async def test_update_with_expected_version(eu: GraphQLClient) -> None:
    rec = await create_employee(eu)
    changed = await eu.ok(
        UPDATE_EMPLOYEE, {"id": rec["id"], "v": 1, "input": {"salary": 70000, "phone": None}}
    )
    emp = changed["updateEmployee"]
    assert (emp["version"], emp["salary"], emp["phone"]) == (2, 70000, None)
    assert emp["lastName"] == rec["lastName"]

    stale = await eu(UPDATE_EMPLOYEE, {"id": rec["id"], "v": 1, "input": {"salary": 1}})
    assert stale["errors"][0]["extensions"]["code"] == "CONFLICT"
    now = await eu.ok(f'{{ employee(id: "{rec["id"]}") {{ version salary phone }} }}')
    assert now["employee"] == {"version": 2, "salary": 70000, "phone": None}


async def test_required_field_cannot_be_cleared(eu: GraphQLClient) -> None:
    rec = await create_employee(eu)
    body = await eu(UPDATE_EMPLOYEE, {"id": rec["id"], "v": 1, "input": {"lastName": None}})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "lastName"}
    now = await eu.ok(f'{{ employee(id: "{rec["id"]}") {{ version lastName }} }}')
    assert now["employee"] == {"version": 1, "lastName": rec["lastName"]}


async def test_missing_record_is_not_found(eu: GraphQLClient) -> None:
    body = await eu('{ employee(id: "01M81KTK58R9JDRYNZ7F3HPA00") { id } }')
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    body = await eu(UPDATE_EMPLOYEE, {"id": "nope", "v": 1, "input": {"salary": 1}})
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"workEmail": "not-an-email"}, "workEmail"),
        ({"lastName": "x" * 201}, "lastName"),
        ({"firstName": "   "}, "firstName"),
        ({"address": "a\x00b"}, "address"),
    ],
)
async def test_bad_values_are_refused_and_nothing_is_written(
    eu: GraphQLClient, override: dict[str, str], field: str
) -> None:
    dept = marker("bad")
    body = await eu(
        "mutation($i: EmployeeCreateInput!) { createEmployee(input: $i) { id } }",
        {"i": employee_input(department=dept, **override)},
    )
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    for value in override.values():
        assert value.strip() not in body["errors"][0]["message"] or not value.strip()
    assert (await eu.ok(LIST, {"filter": {"department": dept}}))["employees"]["nodes"] == []


async def test_page_size_is_bounded(eu: GraphQLClient) -> None:
    for first in (0, -1, 100_000):
        body = await eu(LIST, {"first": first})
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_malformed_cursor(eu: GraphQLClient) -> None:
    body = await eu(LIST, {"after": "not-a-cursor"})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "argument": "after"}


async def test_other_datasheets(eu: GraphQLClient) -> None:
    contact = await eu.ok(
        'mutation { createContact(input: {firstName: "C", lastName: "D", kind: SUPPLIER, '
        'company: "ACME", email: "c.d@acme.example"}) { id kind company email } }'
    )
    assert contact["createContact"]["kind"] == "SUPPLIER"
    applicant = await eu.ok(
        'mutation { createJobApplicant(input: {firstName: "A", lastName: "B", email: '
        '"a@b.example", position: "Engineer", stage: APPLIED, cvText: "Experienced."}) '
        "{ id stage cvText } }"
    )
    got = await eu.ok(
        f'{{ applicant(id: "{applicant["createJobApplicant"]["id"]}") {{ stage cvText }} }}'
    )
    assert got["applicant"] == {"stage": "APPLIED", "cvText": "Experienced."}
