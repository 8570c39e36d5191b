"""Reports: who may run them, what suppression withholds, row filters, the access log, the
audit of saved definitions, the one-time CSV, and database grouping equal to Python's."""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.applications import Starlette

from gateway.services import Services
from gateway.settings import Settings
from regions.routing import database_name
from resolvers.reports import plan as report_plan
from resolvers.reports.rules import extreme_allowed, suppress
from schema.datasheets import datasheet
from storage.values import AccessQuery, AuditQuery, ReportGroup, ReportQuery
from tests.support.client import GraphQLClient, Tenant, make_tenant
from tests.support.employees import create_employee
from tests.support.raw import plain_client, raw_bytes
from tests.support.roles import CREATE_ROLE, CREATE_USER, make_user

REPORT = """
query($sheet: String!, $groupBy: [String!], $measures: [ReportMeasureInput!]!,
      $bucket: TimeBucketInput, $filter: [ExportFilterInput!]) {
  report(datasheet: $sheet, groupBy: $groupBy, measures: $measures, timeBucket: $bucket,
         filter: $filter) {
    keyNames measureNames total minimumGroupSize
    rows { keys records measures withheld }
    other { label groups records }
  }
}
"""
SET_K = "mutation($k: Int!) { setReportMinimumGroupSize(k: $k) }"
CSV = """mutation($d: ReportDefinitionInput!) { reportCsv(definition: $d) { id url expiresAt } }"""
CREATE_DEF = """mutation($name: String!, $d: ReportDefinitionInput!) {
  createReportDefinition(name: $name, definition: $d) { id name version groupBy } }"""
UPDATE_DEF = """mutation($id: ID!, $v: Int!, $name: String!, $d: ReportDefinitionInput!) {
  updateReportDefinition(id: $id, expectedVersion: $v, name: $name, definition: $d) {
    id name version groupBy } }"""
DELETE_DEF = """mutation($id: ID!, $v: Int!) {
  deleteReportDefinition(id: $id, expectedVersion: $v) { id version } }"""
RUN_DEF = """query($id: ID!) { runReportDefinition(id: $id) { total rows { keys records } } }"""
LIST_DEFS = "{ reportDefinitions { id name version } }"
SUM_SALARY = [{"op": "SUM", "field": "salary"}]

#: (department, jobTitle, lastName, startDate, count): 21 employees.
DATA = [
    ("Engineering", "Engineer", "Smith", "2023-01-10", 6),
    ("Engineering", "Engineer", "Jones", "2023-02-20", 4),
    ("Engineering", "Manager", "Jones", "2023-04-02", 2),
    ("Sales", "Manager", None, "2024-05-05", 6),
    ("HR", "Clerk", None, "2024-06-01", 2),
    ("Legal", "Clerk", None, "2025-01-01", 1),
]


@pytest.fixture(scope="module")
async def tenant(services: Services, http: httpx.AsyncClient) -> Tenant:
    tenant = await make_tenant(services, "NL", "Report Org")
    admin = GraphQLClient(http, tenant.token)
    salary = 50_000
    for department, title, last, start, count in DATA:
        for _ in range(count):
            salary += 1_000
            extra = {"lastName": last} if last else {}
            await create_employee(
                admin,
                department=department,
                jobTitle=title,
                startDate=start,
                salary=salary,
                **extra,
            )
    return tenant


@pytest.fixture
def admin(http: httpx.AsyncClient, tenant: Tenant) -> GraphQLClient:
    return GraphQLClient(http, tenant.token)


async def role_user(
    admin: GraphQLClient, services: Services, tenant: Tenant, **grant: Any
) -> GraphQLClient:
    name = f"r{uuid.uuid4().hex[:8]}"
    sheets = [{"datasheet": "employees", **grant}]
    await admin.ok(CREATE_ROLE, {"input": {"name": name, "sheets": sheets}})
    client, _ = await make_user(admin, services, tenant, f"{name}@report.example", [name])
    return client


async def report(client: GraphQLClient, **variables: Any) -> dict[str, Any]:
    data = await client.ok(REPORT, {"sheet": "employees", "measures": [], **variables})
    result: dict[str, Any] = data["report"]
    return result


async def refused(client: GraphQLClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = await client(query, variables)
    assert body.get("data") is None or not any(body["data"].values()), body
    error: dict[str, Any] = body["errors"][0]["extensions"]
    return error


def rows(result: dict[str, Any]) -> dict[tuple[str | None, ...], dict[str, Any]]:
    return {tuple(r["keys"]): r for r in result["rows"]}


# -- suppression rules ------------------------------------------------------------------------


async def test_groups_below_k_are_suppressed_into_other(admin: GraphQLClient) -> None:
    result = await report(admin, groupBy=["department"], measures=SUM_SALARY)
    assert set(rows(result)) == {("Engineering",), ("Sales",)}
    assert result["other"] == {"label": "other (suppressed)", "groups": 2, "records": 3}
    assert result["total"] == 21
    assert result["minimumGroupSize"] == 5
    sales = sum(50_000 + 1_000 * i for i in range(13, 19))
    assert rows(result)[("Sales",)]["measures"] == [float(sales)]


async def test_differencing_withholds_measures_of_groups_within_k(admin: GraphQLClient) -> None:
    # Engineer 10, Manager 8, Clerk 3 (suppressed): 10 and 8 differ by 2 < k.
    result = await report(admin, groupBy=["jobTitle"], measures=SUM_SALARY)
    shown = rows(result)
    assert set(shown) == {("Engineer",), ("Manager",)}
    for row in shown.values():
        assert row["measures"] == [None]
        assert row["withheld"] == "differencing"
    assert [shown[("Engineer",)]["records"], shown[("Manager",)]["records"]] == [10, 8]
    # Against the total: Engineering (12) is within k of the total (21 - 12 = 9 is not).
    filtered = await report(
        admin,
        groupBy=["department"],
        measures=SUM_SALARY,
        filter=[{"field": "jobTitle", "value": "Engineer"}],
    )
    assert rows(filtered)[("Engineering",)]["withheld"] is None  # the only group: = total


def test_min_max_are_refused_below_k_and_small_groups_never_shown() -> None:
    assert not extreme_allowed(4, 5) and extreme_allowed(5, 5)
    groups = [ReportGroup(("a",), 4, (1,)), ReportGroup(("b",), 20, (7,))]
    out = suppress(groups, ["MIN"], 5)
    assert [r.keys for r in out.rows] == [("b",)]
    assert (out.other_groups, out.other_records, out.total) == (1, 4, 24)
    # A group of fewer than k values never gets an extreme, whatever else is decided.
    assert suppress([ReportGroup(("a",), 3, (1,))], ["MAX"], 5).rows == ()
    # Differencing against another group and against the total.
    close = suppress([ReportGroup(("a",), 10, (1,)), ReportGroup(("b",), 12, (2,))], ["SUM"], 5)
    assert all(r.measures == (None,) and r.withheld == "differencing" for r in close.rows)
    apart = suppress([ReportGroup(("a",), 10, (1,)), ReportGroup(("b",), 20, (2,))], ["SUM"], 5)
    assert [r.measures for r in apart.rows] == [(1,), (2,)]


async def test_min_max_over_groups_of_k_and_time_buckets(admin: GraphQLClient) -> None:
    result = await report(
        admin,
        groupBy=["department"],
        bucket={"field": "startDate", "unit": "YEAR"},
        measures=[{"op": "MIN", "field": "salary"}, {"op": "MAX", "field": "salary"}],
    )
    assert result["keyNames"] == ["department", "startDate:YEAR"]
    assert set(rows(result)) == {("Engineering", "2023"), ("Sales", "2024")}
    assert rows(result)[("Sales", "2024")]["measures"] == [63_000.0, 68_000.0]
    quarters = await report(admin, bucket={"field": "startDate", "unit": "QUARTER"})
    assert rows(quarters)[("2023-Q1",)]["records"] == 10
    assert rows(quarters)[("2024-Q2",)]["records"] == 8  # May and June roll up
    assert (quarters["other"]["groups"], quarters["other"]["records"]) == (2, 3)  # 2023-Q2, 2025


async def test_an_admin_sets_k_audited_and_only_an_admin(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    body = await admin(SET_K, {"k": 1})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    reporter = await role_user(admin, services, tenant, read=["department"], report=True)
    error = await refused(reporter, SET_K, {"k": 2})
    assert error["code"] == "FORBIDDEN"
    try:
        assert (await admin.ok(SET_K, {"k": 2}))["setReportMinimumGroupSize"] == 2
        result = await report(admin, groupBy=["department"])
        assert ("HR",) in rows(result) and result["minimumGroupSize"] == 2
        page, _ = await services.store.for_tenant(tenant.id).audit.page(
            AuditQuery(datasheet="settings", record="reports"), first=10
        )
        assert page and all(e.fields == ["minimumGroupSize"] for e in page)
    finally:
        await admin.ok(SET_K, {"k": 5})


# -- permissions ------------------------------------------------------------------------------


async def test_report_needs_the_report_grant_and_introspection_follows(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    reader = await role_user(admin, services, tenant, read=["department", "salary"])
    error = await refused(reader, REPORT, {"sheet": "employees", "measures": []})
    assert error["code"] == "FORBIDDEN"
    names = "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }"
    seen = (await reader.ok(names))["__schema"]
    assert "report" not in {f["name"] for f in seen["queryType"]["fields"]}
    assert "reportCsv" not in {f["name"] for f in seen["mutationType"]["fields"]}
    reporter = await role_user(admin, services, tenant, read=["department"], report=True)
    seen = (await reporter.ok(names))["__schema"]
    assert "report" in {f["name"] for f in seen["queryType"]["fields"]}
    assert "setReportMinimumGroupSize" not in {f["name"] for f in seen["mutationType"]["fields"]}
    result = await report(reporter, groupBy=["department"])
    assert result["total"] == 21


async def test_grouped_and_measured_fields_must_be_readable_in_full(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    reporter = await role_user(
        admin, services, tenant, read=["department"], mask=["lastName"], report=True
    )
    variables = {"sheet": "employees", "measures": SUM_SALARY, "groupBy": ["department"]}
    error = await refused(reporter, REPORT, variables)
    assert (error["code"], error["field"]) == ("FORBIDDEN", "Employee.salary")
    variables = {"sheet": "employees", "measures": [], "groupBy": ["lastName"]}
    error = await refused(reporter, REPORT, variables)
    assert (error["code"], error["field"]) == ("FORBIDDEN", "Employee.lastName")
    # A field read in full only by a role without the report switch does not count.
    names = [f"s{uuid.uuid4().hex[:8]}", f"t{uuid.uuid4().hex[:8]}"]
    grants: list[dict[str, Any]] = [{"read": ["salary"]}, {"read": ["department"], "report": True}]
    for name, grant in zip(names, grants, strict=True):
        sheets = [{"datasheet": "employees", **grant}]
        await admin.ok(CREATE_ROLE, {"input": {"name": name, "sheets": sheets}})
    both, _ = await make_user(admin, services, tenant, f"{names[0]}@report.example", names)
    variables = {"sheet": "employees", "measures": SUM_SALARY, "groupBy": ["department"]}
    error = await refused(both, REPORT, variables)
    assert (error["code"], error["field"]) == ("FORBIDDEN", "Employee.salary")


async def test_the_row_filter_applies(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    sales = await role_user(
        admin,
        services,
        tenant,
        read=["department", "salary", "jobTitle"],
        report=True,
        rowFilter={"equals": [{"field": "department", "value": "Sales"}]},
    )
    result = await report(sales, groupBy=["jobTitle"], measures=SUM_SALARY)
    assert result["total"] == 6
    assert set(rows(result)) == {("Manager",)}


async def test_effective_permissions_and_role_diff_show_the_report_switch(
    admin: GraphQLClient,
) -> None:
    name = f"d{uuid.uuid4().hex[:8]}"
    grant = {"datasheet": "employees", "read": ["department"]}
    created = await admin.ok(CREATE_ROLE, {"input": {"name": name, "sheets": [grant]}})
    update = """mutation($input: RoleInput!, $v: Int!) {
      updateRole(input: $input, expectedVersion: $v) { version sheets { report } } }"""
    changed = await admin.ok(
        update,
        {
            "input": {"name": name, "sheets": [{**grant, "report": True}]},
            "v": created["createRole"]["version"],
        },
    )
    assert changed["updateRole"]["sheets"] == [{"report": True}]
    diff = await admin.ok(
        "query($n: String!) { roleDiff(name: $n, fromVersion: 1, toVersion: 2) "
        "{ sheets { changed } } }",
        {"n": name},
    )
    assert diff["roleDiff"]["sheets"] == [{"changed": ["report"]}]
    users = await admin.ok(
        CREATE_USER, {"email": f"{name}@report.example", "roles": [name], "export": False}
    )
    effective = await admin.ok(
        "query($id: ID!) { effectivePermissions(userId: $id) { sheets { datasheet report } } }",
        {"id": users["createUser"]["id"]},
    )
    assert effective["effectivePermissions"]["sheets"] == [
        {"datasheet": "employees", "report": True}
    ]


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"sheet": "payroll"}, "datasheet"),
        ({"groupBy": ["shoeSize"]}, "shoeSize"),
        ({"groupBy": ["firstName"]}, "firstName"),
        ({"measures": [{"op": "SUM", "field": "department"}]}, "department"),
        ({"measures": [{"op": "MIN", "field": "startDate"}]}, "startDate"),
        ({"measures": [{"op": "AVG"}]}, "measures"),
        ({"bucket": {"field": "dateOfBirth", "unit": "MONTH"}}, "dateOfBirth"),
    ],
)
async def test_bad_definitions_name_the_field(
    admin: GraphQLClient, variables: dict[str, Any], field: str
) -> None:
    error = await refused(admin, REPORT, {"sheet": "employees", "measures": [], **variables})
    assert (error["code"], error["field"]) == ("BAD_USER_INPUT", field)


async def test_too_many_groups_is_refused(
    admin: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_plan, "MAX_GROUPS", 3)
    error = await refused(
        admin, REPORT, {"sheet": "employees", "measures": [], "groupBy": ["department"]}
    )
    assert (error["code"], error["field"]) == ("BAD_USER_INPUT", "groupBy")
    error = await refused(
        admin, REPORT, {"sheet": "employees", "measures": SUM_SALARY, "groupBy": ["department"]}
    )
    assert (error["code"], error["field"]) == ("BAD_USER_INPUT", "groupBy")


# -- access log, saved definitions, CSV ------------------------------------------------------


async def test_each_run_is_in_the_access_log_without_values(
    admin: GraphQLClient, services: Services, tenant: Tenant, app: Starlette
) -> None:
    await report(
        admin,
        groupBy=["department"],
        measures=SUM_SALARY,
        filter=[{"field": "jobTitle", "value": "Manager"}],
    )
    await app.state.services.access.flush()
    events, _ = await services.store.for_tenant(tenant.id).access_log.page(
        AccessQuery(kind="report"), first=5
    )
    event = events[0]
    assert event.datasheet == "employees"
    assert event.fields == ("department", "salary", "jobTitle")
    assert event.records == ()
    assert event.detail == {"records": 8}
    assert "Manager" not in repr(event) and "Sales" not in repr(event)


async def test_saved_definitions_are_versioned_and_audited(
    admin: GraphQLClient, services: Services, tenant: Tenant, settings: Settings
) -> None:
    d = {
        "datasheet": "employees",
        "groupBy": ["department"],
        "measures": SUM_SALARY,
        "filter": [{"field": "lastName", "value": "Jones"}],
    }
    created = (await admin.ok(CREATE_DEF, {"name": "by dept", "d": d}))["createReportDefinition"]
    assert created["version"] == 1
    ran = (await admin.ok(RUN_DEF, {"id": created["id"]}))["runReportDefinition"]
    assert ran["total"] == 6 and ran["rows"] == [{"keys": ["Engineering"], "records": 6}]
    stale = await admin(UPDATE_DEF, {"id": created["id"], "v": 5, "name": "x", "d": d})
    assert stale["errors"][0]["extensions"]["code"] == "CONFLICT"
    updated = (
        await admin.ok(
            UPDATE_DEF,
            {"id": created["id"], "v": 1, "name": "by title", "d": {**d, "groupBy": ["jobTitle"]}},
        )
    )["updateReportDefinition"]
    assert (updated["version"], updated["groupBy"]) == (2, ["jobTitle"])
    raw = plain_client(settings, "eu")
    try:
        doc = await raw[database_name(tenant.id)]["report_definitions"].find_one(
            {"_id": created["id"]}
        )
    finally:
        await raw.close()
    assert doc is not None and b"Jones" not in raw_bytes(doc)  # the filter is encrypted
    # A caller who may not run it neither sees nor runs it.
    other = await role_user(admin, services, tenant, read=["department"], report=True)
    assert created["id"] not in {d["id"] for d in (await other.ok(LIST_DEFS))["reportDefinitions"]}
    error = await refused(other, RUN_DEF, {"id": created["id"]})
    assert error["code"] == "NOT_FOUND"
    await admin.ok(DELETE_DEF, {"id": created["id"], "v": 2})
    assert created["id"] not in {d["id"] for d in (await admin.ok(LIST_DEFS))["reportDefinitions"]}
    store = services.store.for_tenant(tenant.id)
    page, _ = await store.audit.page(AuditQuery(record=created["id"]), first=10)
    entries = sorted(page, key=lambda e: e.seq)
    changes = [e for e in entries if e.version is not None]
    assert [(e.op, e.version) for e in changes] == [("create", 1), ("update", 2), ("update", 3)]
    assert all(e.datasheet == "report_definitions" for e in changes)
    assert [e.code for e in entries if e.version is None] == ["CONFLICT"]  # the stale update
    assert await store.reports.get_definition(created["id"]) is None


async def test_report_csv_is_one_time_and_escaped(
    admin: GraphQLClient, http: httpx.AsyncClient
) -> None:
    for _ in range(5):
        await create_employee(admin, department="Ops", jobTitle='=HYPERLINK("http://x")')
    try:
        d = {
            "datasheet": "employees",
            "groupBy": ["jobTitle"],
            "filter": [{"field": "department", "value": "Ops"}],
        }
        link = (await admin.ok(CSV, {"d": d}))["reportCsv"]
        parts = urlsplit(link["url"])
        first = await http.get(f"{parts.path}?{parts.query}")
        assert first.status_code == 200, first.text
        table = list(csv.reader(io.StringIO(first.text)))
        assert table[0] == ["row", "jobTitle", "records"]
        assert table[1] == ["group", '\'=HYPERLINK("http://x")', "5"]
        again = await http.get(f"{parts.path}?{parts.query}")
        assert again.status_code == 410
    finally:
        for record in (
            await admin.ok(
                '{ employees(first: 100, filter: {department: "Ops"}) { nodes { id version } } }'
            )
        )["employees"]["nodes"]:
            await admin.ok(
                "mutation($id: ID!, $v: Int!) { deleteEmployee(id: $id, expectedVersion: $v) "
                "{ id } }",
                {"id": record["id"], "v": record["version"]},
            )


# -- the database's grouping equals Python's -------------------------------------------------


async def test_database_grouping_equals_grouping_in_python(
    services: Services, tenant: Tenant
) -> None:
    store = services.store.for_tenant(tenant.id)
    sheet = datasheet("employees")
    fields = ["department", "lastName", "startDate", "salary"]
    expected: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    async for record in store.records.stream(sheet, fields):
        v = record.values
        start = v["startDate"]
        key = (v["department"], v["lastName"], None if start is None else str(start)[:7])
        salary = v["salary"]
        assert isinstance(salary, int)
        expected[key].append(salary)
    bucket = ("startDate", "MONTH")
    by_db = await store.reports.aggregate(
        sheet,
        ReportQuery(
            group_by=("department", "lastName"), measures=(("COUNT", None),), bucket=bucket
        ),
    )
    streamed = await store.reports.aggregate(
        sheet,
        ReportQuery(
            group_by=("department", "lastName"),
            measures=(("COUNT", "salary"), ("SUM", "salary"), ("MIN", "salary")),
            bucket=bucket,
        ),
    )
    assert {g.keys: g.count for g in by_db} == {k: len(v) for k, v in expected.items()}
    assert {g.keys: g.measures for g in streamed} == {
        k: (len(v), sum(v), min(v)) for k, v in expected.items()
    }


async def test_report_csv_rechecks_the_report_grant_at_download(
    admin: GraphQLClient, services: Services, tenant: Tenant, http: httpx.AsyncClient
) -> None:
    name = f"c{uuid.uuid4().hex[:8]}"
    grant = {"datasheet": "employees", "read": ["department"], "report": True}
    await admin.ok(CREATE_ROLE, {"input": {"name": name, "sheets": [grant]}})
    reporter, _ = await make_user(admin, services, tenant, f"{name}@report.example", [name])
    link = (await reporter.ok(CSV, {"d": {"datasheet": "employees", "groupBy": ["department"]}}))[
        "reportCsv"
    ]
    update = """mutation($input: RoleInput!) {
      updateRole(input: $input, expectedVersion: 1) { version } }"""
    await admin.ok(update, {"input": {"name": name, "sheets": [{**grant, "report": False}]}})
    parts = urlsplit(link["url"])
    refused_download = await http.get(f"{parts.path}?{parts.query}")
    assert refused_download.status_code == 403
    assert b"Engineering" not in refused_download.content


async def test_a_value_under_another_tenants_key_is_never_aggregated(
    services: Services, http: httpx.AsyncClient, settings: Settings
) -> None:
    victim = await make_tenant(services, "BE", "Report Victim")
    insider = await make_tenant(services, "LU", "Report Insider")
    victim_admin, insider_admin = (
        GraphQLClient(http, victim.token),
        GraphQLClient(http, insider.token),
    )
    target = await create_employee(victim_admin, lastName="Victimname", salary=987_654)
    mine = [await create_employee(insider_admin, department="Ops") for _ in range(5)]
    raw = plain_client(settings, "eu")
    try:
        source = await raw[database_name(victim.id)]["employees"].find_one({"_id": target["id"]})
        assert source is not None
        copied = {k: source[k] for k in ("salary", "lastName")}
        await raw[database_name(insider.id)]["employees"].update_one(
            {"_id": mine[0]["id"]}, {"$set": copied}
        )
    finally:
        await raw.close()
    streamed = await insider_admin(
        REPORT, {"sheet": "employees", "groupBy": ["department"], "measures": SUM_SALARY}
    )
    grouped = await insider_admin(
        REPORT, {"sheet": "employees", "groupBy": ["lastName"], "measures": []}
    )
    for body in (streamed, grouped):
        assert [e["extensions"]["code"] for e in body["errors"]] == ["DATA_INTEGRITY"], body
        assert "987654" not in str(body) and "Victimname" not in str(body)
