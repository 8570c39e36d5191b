"""Per-field and per-row permissions, enforced before execution, as each role sees them."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from gateway.services import Services
from tests.support.client import GraphQLClient, Tenant, make_tenant
from tests.support.employees import create_employee, employee_input
from tests.support.roles import CREATE_ROLE, make_role, make_user

READER_FIELDS = ["firstName", "lastName", "department", "jobTitle"]


@pytest.fixture
async def tenant(services: Services) -> Tenant:
    return await make_tenant(services, "DE", "Permissions Org")


@pytest.fixture
def admin(http: httpx.AsyncClient, tenant: Tenant) -> GraphQLClient:
    return GraphQLClient(http, tenant.token)


def _email() -> str:
    return f"user-{uuid.uuid4().hex[:8]}@example.com"


async def test_forbidden_field_refuses_the_whole_operation(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    await create_employee(admin)
    await make_role(admin, "reader", read=READER_FIELDS)
    reader, _ = await make_user(admin, services, tenant, _email(), ["reader"])
    ok = await reader.ok("{ employees { nodes { id firstName department } } }")
    assert ok["employees"]["nodes"]
    body = await reader("{ employees { nodes { id firstName salary } } }")
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "FORBIDDEN",
        "field": "Employee.salary",
        "path": "employees.nodes.salary",
    }
    assert error["path"] == ["employees", "nodes", "salary"]
    # Through an alias and a fragment it is the same.
    sneaky = await reader(
        "query { a: employees { nodes { ...F } } } fragment F on Employee { pay: salary }"
    )
    assert sneaky["data"] is None
    assert sneaky["errors"][0]["extensions"]["path"] == "a.nodes.pay"


async def test_same_document_as_admin_then_as_a_role_without_the_field(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    document = "{ employees(first: 1) { nodes { id nationalId } } }"
    await create_employee(admin)
    assert (await admin.ok(document))["employees"]["nodes"][0]["nationalId"]
    await make_role(admin, "no-nid", read=READER_FIELDS)
    limited, _ = await make_user(admin, services, tenant, _email(), ["no-nid"])
    body = await limited(document)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await admin.ok(document))["employees"]["nodes"]  # and the admin still may


async def test_writes_need_write_permission_and_write_nothing_otherwise(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    rec = await create_employee(admin)
    await make_role(admin, "editor", read=[*READER_FIELDS, "salary"], write=["jobTitle"])
    editor, _ = await make_user(admin, services, tenant, _email(), ["editor"])
    update = """mutation($id: ID!, $v: Int!, $input: EmployeeUpdateInput!) {
      updateEmployee(id: $id, expectedVersion: $v, input: $input) { id version jobTitle } }"""
    done = await editor.ok(update, {"id": rec["id"], "v": 1, "input": {"jobTitle": "Lead"}})
    assert done["updateEmployee"] == {"id": rec["id"], "version": 2, "jobTitle": "Lead"}
    # Salary is readable but not writable: refused, nothing written (passed as a variable,
    # which validation cannot see).
    refused = await editor(update, {"id": rec["id"], "v": 2, "input": {"salary": 1}})
    assert refused["errors"][0]["extensions"] == {"code": "FORBIDDEN", "field": "Employee.salary"}
    # No create permission: the mutation field itself is refused before execution.
    created = await editor(
        "mutation($i: EmployeeCreateInput!) { createEmployee(input: $i) { id } }",
        {"i": employee_input()},
    )
    assert created["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    now = await admin.ok(f'{{ employee(id: "{rec["id"]}") {{ version salary }} }}')
    assert now["employee"] == {"version": 2, "salary": rec["salary"]}


async def test_filtering_by_an_unreadable_field_is_refused(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    target = await create_employee(admin)
    await make_role(admin, "probe", read=READER_FIELDS, mask=["nationalId"])
    probe, _ = await make_user(admin, services, tenant, _email(), ["probe"])
    query = "query($f: EmployeeFilter) { employees(filter: $f) { nodes { id } } }"
    for flt in ({"nationalId": target["nationalId"]}, {"workEmail": target["workEmail"]}):
        body = await probe(query, {"f": flt})
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] in {"FORBIDDEN", "BAD_USER_INPUT"}
        assert target["nationalId"] not in str(body)


async def test_row_filter_is_part_of_the_query_and_holds_for_ids(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    sales = await create_employee(admin, department="Sales")
    eng = await create_employee(admin, department="Engineering")
    await make_role(
        admin,
        "sales",
        read=[*READER_FIELDS, "salary"],
        write=["salary", "department"],
        archive=True,
        delete=True,
        rowFilter={"equals": [{"field": "department", "value": "Sales"}]},
    )
    seller, _ = await make_user(admin, services, tenant, _email(), ["sales"])
    listed = await seller.ok("{ employees(first: 500) { nodes { id department } } }")
    assert {n["department"] for n in listed["employees"]["nodes"]} == {"Sales"}
    assert sales["id"] in {n["id"] for n in listed["employees"]["nodes"]}
    # Outside the filter by id: not found, whatever the operation.
    got = await seller(f'{{ employee(id: "{eng["id"]}") {{ id }} }}')
    assert got["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    update = """mutation($id: ID!, $v: Int!, $input: EmployeeUpdateInput!) {
      updateEmployee(id: $id, expectedVersion: $v, input: $input) { id salary } }"""
    upd = await seller(update, {"id": eng["id"], "v": 1, "input": {"salary": 1}})
    assert upd["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    for op in ("archiveEmployee", "deleteEmployee"):
        res = await seller(f'mutation {{ {op}(id: "{eng["id"]}", expectedVersion: 1) {{ id }} }}')
        assert res["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # A change may not move a record out of the rows the role covers.
    moved = await seller(update, {"id": sales["id"], "v": 1, "input": {"department": "Eng"}})
    assert moved["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    ok = await seller.ok(update, {"id": sales["id"], "v": 1, "input": {"salary": 5}})
    assert ok["updateEmployee"]["salary"] == 5
    after = await admin.ok(f'{{ employee(id: "{eng["id"]}") {{ version salary archived }} }}')
    assert after["employee"] == {"version": 1, "salary": eng["salary"], "archived": False}


async def test_own_records_only(admin: GraphQLClient, services: Services, tenant: Tenant) -> None:
    await create_employee(admin)
    fields = [
        "firstName",
        "lastName",
        "workEmail",
        "status",
        "department",
        "jobTitle",
    ]
    await make_role(
        admin, "recruiter", read=fields, write=fields, create=True, rowFilter={"ownOnly": True}
    )
    mine, _ = await make_user(admin, services, tenant, _email(), ["recruiter"])
    created = await mine.ok(
        "mutation($i: EmployeeCreateInput!) { createEmployee(input: $i) { id } }",
        {"i": {k: v for k, v in employee_input().items() if k in fields}},
    )
    listed = await mine.ok("{ employees(first: 500) { nodes { id } } }")
    assert [n["id"] for n in listed["employees"]["nodes"]] == [created["createEmployee"]["id"]]


async def test_masked_fields_keep_their_shape(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    rec = await create_employee(admin, workEmail="jane.doe@corp.example", nationalId="AB123456789")
    await make_role(admin, "masked", read=["firstName"], mask=["workEmail", "nationalId"])
    viewer, _ = await make_user(admin, services, tenant, _email(), ["masked"])
    response = await viewer.raw(
        f'{{ employee(id: "{rec["id"]}") {{ firstName workEmail nationalId }} }}'
    )
    body = response.json()
    assert body["data"]["employee"] == {
        "firstName": rec["firstName"],
        "workEmail": "•••@corp.example",
        "nationalId": "•••6789",
    }
    assert body["extensions"]["masked"] == {"Employee": ["nationalId", "workEmail"]}
    # Masked is not readable: no filtering or writing by it.
    body2 = await viewer('{ employees(filter: {nationalId: "AB123456789"}) { nodes { id } } }')
    assert body2["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_introspection_shows_each_role_its_own_schema(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    await make_role(admin, "narrow", read=["firstName", "lastName"], write=["lastName"])
    narrow, _ = await make_user(admin, services, tenant, _email(), ["narrow"])
    query = """{ e: __type(name: "Employee") { fields { name } }
                 u: __type(name: "EmployeeUpdateInput") { inputFields { name } }
                 q: __schema { queryType { fields { name } } mutationType { fields { n: name } } }
                 c: __type(name: "Contact") { fields { name } } }"""
    mine = await narrow.ok(query)
    assert {f["name"] for f in mine["e"]["fields"]} == {
        "id",
        "version",
        "archived",
        "createdAt",
        "updatedAt",
        "firstName",
        "lastName",
    }
    assert [f["name"] for f in mine["u"]["inputFields"]] == ["lastName"]
    roots = {f["name"] for f in mine["q"]["queryType"]["fields"]}
    assert roots == {"me", "auditLog", "employee", "employees"}
    assert {f["n"] for f in mine["q"]["mutationType"]["fields"]} == {
        "updateEmployee",
        "logout",
        "enrollTotp",
        "confirmTotp",
        "changePassword",
    }
    assert mine["c"] is None  # no grant on contacts: the type is not reachable
    full = await admin.ok(query)
    assert "salary" in {f["name"] for f in full["e"]["fields"]}
    assert "createRole" in {f["n"] for f in full["q"]["mutationType"]["fields"]}


async def test_no_suggestions_for_hidden_fields(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    await make_role(admin, "tiny", read=["firstName"])
    tiny, _ = await make_user(admin, services, tenant, _email(), ["tiny"])
    body = await tiny("{ employees { nodes { salar } } }")
    assert "Did you mean" not in str(body) and "salary" not in str(body)


async def test_only_admins_manage_roles_and_users(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    await make_role(admin, "plain", read=["firstName"])
    plain, user = await make_user(admin, services, tenant, _email(), ["plain"])
    for document in (
        "{ roles { name } }",
        "{ users { id email } }",
        'mutation { createRole(input: {name: "x"}) { name } }',
        f'mutation {{ updateUser(id: "{user["id"]}", expectedVersion: 1, roles: ["admin"]) '
        "{ id } }",
    ):
        body = await plain(document)
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", document
    me = await plain.ok("{ me { id roles canExport } }")
    assert me["me"] == {"id": user["id"], "roles": ["plain"], "canExport": False}


@pytest.mark.parametrize(
    ("sheet", "message_part"),
    [
        ({"datasheet": "payroll"}, "unknown datasheet 'payroll'"),
        ({"datasheet": "employees", "read": ["shoeSize"]}, "unknown field 'shoeSize'"),
        ({"datasheet": "employees", "mask": ["salary"]}, "cannot be masked"),
        (
            {
                "datasheet": "employees",
                "rowFilter": {"equals": [{"field": "lastName", "value": "x"}]},
            },
            "encrypted",
        ),
        ({"datasheet": "employees", "create": True, "write": ["lastName"]}, "required field"),
    ],
)
async def test_role_validation_is_strict(
    admin: GraphQLClient, sheet: dict[str, Any], message_part: str
) -> None:
    body = await admin(
        CREATE_ROLE, {"input": {"name": f"r{uuid.uuid4().hex[:6]}", "sheets": [sheet]}}
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert message_part in body["errors"][0]["message"]
    roles = await admin.ok("{ roles { name } }")
    assert roles["roles"] == []


async def test_unknown_role_for_a_user_is_refused(admin: GraphQLClient) -> None:
    body = await admin('mutation { createUser(email: "a@b.example", roles: ["ghost"]) { id } }')
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "roles"}
    assert "ghost" in body["errors"][0]["message"]


async def test_the_last_admin_keeps_the_role(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    update = """mutation($id: ID!, $v: Int!, $roles: [String!]) {
      updateUser(id: $id, expectedVersion: $v, roles: $roles) { id version roles } }"""
    body = await admin(update, {"id": tenant.admin_id, "v": 1, "roles": []})
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"
    second, user = await make_user(admin, services, tenant, _email(), ["admin"])
    # Two admins demote each other at once: only one can succeed.
    results = await asyncio.gather(
        admin(update, {"id": user["id"], "v": 1, "roles": []}),
        second(update, {"id": tenant.admin_id, "v": 1, "roles": []}),
    )
    assert sum("errors" not in r for r in results) == 1
    remaining = await services.store.for_tenant(tenant.id).users.all()
    assert sum("admin" in u.roles for u in remaining) == 1


async def test_role_versions_diff_and_effective_permissions(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    await make_role(admin, "hr", read=["firstName", "salary"])
    update = """mutation($input: RoleInput!) { updateRole(expectedVersion: 1, input: $input) {
      version } }"""
    await admin.ok(
        update,
        {
            "input": {
                "name": "hr",
                "sheets": [
                    {
                        "datasheet": "employees",
                        "read": ["firstName", "lastName"],
                        "write": ["lastName"],
                    }
                ],
            }
        },
    )
    versions = await admin.ok('{ roleVersions(name: "hr") { version deleted sheets { read } } }')
    assert [v["version"] for v in versions["roleVersions"]] == [1, 2]
    assert versions["roleVersions"][0]["sheets"][0]["read"] == ["firstName", "salary"]
    diff = await admin.ok(
        '{ roleDiff(name: "hr", fromVersion: 1, toVersion: 2) { sheets { '
        "datasheet gainedRead lostRead gainedWrite lostWrite changed } } }"
    )
    assert diff["roleDiff"]["sheets"] == [
        {
            "datasheet": "employees",
            "gainedRead": ["lastName"],
            "lostRead": ["salary"],
            "gainedWrite": ["lastName"],
            "lostWrite": [],
            "changed": [],
        }
    ]
    _, user = await make_user(admin, services, tenant, _email(), ["hr"], can_export=True)
    perms = await admin.ok(
        f'{{ effectivePermissions(userId: "{user["id"]}") {{ roles canExport admin '
        "sheets { datasheet read write allRows } } }"
    )
    assert perms["effectivePermissions"] == {
        "roles": ["hr"],
        "canExport": True,
        "admin": False,
        "sheets": [
            {
                "datasheet": "employees",
                "read": ["firstName", "lastName"],
                "write": ["lastName"],
                "allRows": True,
            }
        ],
    }


async def test_export_permission_is_per_user(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    await make_role(admin, "exp", read=["firstName"])
    _, user = await make_user(admin, services, tenant, _email(), ["exp"])
    update = """mutation($id: ID!, $v: Int!, $e: Boolean) {
      updateUser(id: $id, expectedVersion: $v, canExport: $e) { version canExport roles } }"""
    on = await admin.ok(update, {"id": user["id"], "v": 1, "e": True})
    assert on["updateUser"] == {"version": 2, "canExport": True, "roles": ["exp"]}
    stale = await admin(update, {"id": user["id"], "v": 1, "e": False})
    assert stale["errors"][0]["extensions"]["code"] == "CONFLICT"


async def test_a_role_change_applies_to_the_next_request(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    await create_employee(admin)
    await make_role(admin, "flip", read=["firstName", "salary"])
    flip, _ = await make_user(admin, services, tenant, _email(), ["flip"])
    document = "{ employees(first: 1) { nodes { salary } } }"
    assert (await flip.ok(document))["employees"]["nodes"]
    await admin.ok(
        "mutation($input: RoleInput!) { updateRole(expectedVersion: 1, input: $input) "
        "{ version } }",
        {"input": {"name": "flip", "sheets": [{"datasheet": "employees", "read": ["firstName"]}]}},
    )
    body = await flip(document)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_roles_do_not_combine_into_more_than_one_allows_on_a_row(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    sales = await create_employee(admin, department="Sales", phone="+49 30 1111 2222")
    eng = await create_employee(admin, department="Engineering", phone="+49 30 3333 4444")
    await make_role(admin, "names-all", read=["firstName"])
    await make_role(
        admin,
        "sales-pay",
        read=["salary", "department"],
        rowFilter={"equals": [{"field": "department", "value": "Sales"}]},
    )
    both, _ = await make_user(admin, services, tenant, _email(), ["names-all", "sales-pay"])
    names = await both.ok("{ employees(first: 500) { nodes { id firstName } } }")
    ids = {n["id"] for n in names["employees"]["nodes"]}
    assert {sales["id"], eng["id"]} <= ids
    pay = await both.ok("{ employees(first: 500) { nodes { id firstName salary } } }")
    assert {n["id"] for n in pay["employees"]["nodes"]} == {sales["id"]}
    got = await both(f'{{ employee(id: "{eng["id"]}") {{ firstName salary }} }}')
    assert (
        got["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        or got["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    )
    assert str(eng["salary"]) not in str(got)

    await make_role(admin, "phone-masked-all", read=["firstName"], mask=["phone"])
    await make_role(
        admin,
        "phone-sales",
        read=["phone", "department"],
        rowFilter={"equals": [{"field": "department", "value": "Sales"}]},
    )
    mixed, _ = await make_user(
        admin, services, tenant, _email(), ["phone-masked-all", "phone-sales"]
    )
    phones = await mixed.ok("{ employees(first: 500) { nodes { id phone } } }")
    by_id = {n["id"]: n["phone"] for n in phones["employees"]["nodes"]}
    assert by_id[sales["id"]] == "+49 30 1111 2222"
    assert by_id[eng["id"]] == "•••4444"


async def test_moving_a_record_into_ones_rows_does_not_unmask_it(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    eng = await create_employee(admin, department="Engineering", nationalId="ENGNID12345")
    await make_role(admin, "mover", read=["department"], write=["department"], mask=["nationalId"])
    await make_role(
        admin,
        "nid-sales",
        read=["nationalId", "department"],
        rowFilter={"equals": [{"field": "department", "value": "Sales"}]},
    )
    user, _ = await make_user(admin, services, tenant, _email(), ["mover", "nid-sales"])
    moved = await user.raw(
        """mutation($id: ID!) { updateEmployee(id: $id, expectedVersion: 1,
             input: {department: "Sales"}) { department nationalId } }""",
        {"id": eng["id"]},
    )
    body = moved.json()
    assert body["data"]["updateEmployee"] == {"department": "Sales", "nationalId": "•••2345"}
    assert body["extensions"]["masked"] == {"Employee": ["nationalId"]}


async def test_row_filters_on_dates(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    rec = await create_employee(admin, startDate="2020-01-15")
    await create_employee(admin, startDate="2021-02-01")
    await make_role(
        admin,
        "cohort",
        read=["firstName", "phone", "startDate"],
        write=["phone"],
        rowFilter={"equals": [{"field": "startDate", "value": "2020-01-15"}]},
    )
    user, _ = await make_user(admin, services, tenant, _email(), ["cohort"])
    listed = await user.ok("{ employees(first: 500) { nodes { id firstName startDate } } }")
    assert {n["startDate"] for n in listed["employees"]["nodes"]} == {"2020-01-15"}
    assert any(n["firstName"] == rec["firstName"] for n in listed["employees"]["nodes"])
    changed = await user.ok(
        """mutation($id: ID!) { updateEmployee(id: $id, expectedVersion: 1,
             input: {phone: "+1 555 0199"}) { phone } }""",
        {"id": rec["id"]},
    )
    assert changed["updateEmployee"] == {"phone": "+1 555 0199"}


async def test_effective_permissions_show_the_rows_of_each_field(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    await make_role(admin, "names", read=["firstName"])
    await make_role(
        admin,
        "pay",
        read=["salary"],
        rowFilter={"equals": [{"field": "department", "value": "Sales"}]},
    )
    _, user = await make_user(admin, services, tenant, _email(), ["names", "pay"])
    perms = await admin.ok(
        f'{{ effectivePermissions(userId: "{user["id"]}") {{ sheets {{ fields {{ field access '
        "allRows rowFilters { equals { field value } } } } } }"
    )
    fields = {f["field"]: f for f in perms["effectivePermissions"]["sheets"][0]["fields"]}
    assert fields["firstName"]["allRows"] is True
    assert fields["salary"]["allRows"] is False
    assert fields["salary"]["rowFilters"] == [
        {"equals": [{"field": "department", "value": "Sales"}]}
    ]
