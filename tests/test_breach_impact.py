"""A breach's impact is exactly what the compromised principal received and changed in the
window (issue 19): a role-scoped API key reads through a list, by id, the compiled read path
and an export, and changes a record; the measured impact is that set of records, fields,
categories and counts, nothing of another principal's reads, nothing outside the window.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import jwt
import pytest
from starlette.applications import Starlette

from gateway.services import Services
from resolvers.breach import impact as impact_module
from resolvers.breach.impact import measure_impact
from schema.datasheets import DATASHEETS, DataCategory
from storage.values import Compromised
from tests.support.client import GraphQLClient, make_tenant
from tests.support.clock import moment
from tests.support.differential import compiled_path
from tests.support.employees import create_employee, marker
from tests.support.exports import START, download, lines
from tests.support.roles import make_role
from tests.support.signins import PASSWORD, login

CREATE_KEY = """mutation($r: String!) {
  createApiKey(name: "breach", role: $r, canExport: true) { key apiKey { id } } }"""
IMPACT = """query($c: [CompromisedInput!]!, $s: DateTime!, $u: DateTime) {
  breachImpact(compromised: $c, since: $s, until: $u) {
    since until principals dataSubjects records exportsDownloaded categories
    sheets { datasheet fields categories recordsRead recordsExported recordsChanged
             recordsDeleted records } } }"""
UPDATE = """mutation($id: ID!, $v: Int!) {
  updateEmployee(id: $id, expectedVersion: $v, input: { jobTitle: "Breached" }) { id version } }"""
CATEGORY = {
    "firstName": "identity",
    "lastName": "identity",
    "workEmail": "contact",
    "department": "employment",
}


def iso(at: dt.datetime) -> str:
    return at.isoformat()


class Key:
    def __init__(self, http: httpx.AsyncClient, key: str) -> None:
        self.http, self.key = http, key

    async def ok(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"x-api-key": self.key},
        )
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data


async def test_impact_is_exactly_what_a_key_received(
    app: Starlette, http: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await make_tenant(services, "DE", "Breach Org")
    admin = GraphQLClient(http, tenant.token)
    sales = marker("Sales")
    mine = sorted(
        [(await create_employee(admin, department=sales)) for _ in range(6)],
        key=lambda r: str(r["id"]),
    )
    others = [await create_employee(admin, department=marker("Other")) for _ in range(2)]
    await make_role(
        admin,
        "breach-etl",
        read=["firstName", "lastName", "workEmail", "department", "jobTitle"],
        write=["jobTitle"],
        export=True,
        rowFilter={"equals": [{"field": "department", "value": sales}]},
    )
    created = (await admin.ok(CREATE_KEY, {"r": "breach-etl"}))["createApiKey"]
    key, key_id = Key(http, created["key"]), created["apiKey"]["id"]
    path = compiled_path(app)
    flush = app.state.services.access.flush
    one = "query($id: ID!) { employee(id: $id) { id %s } %s }"

    # Before the window: a read that must not count.
    await key.ok(one % ("workEmail lastName", ""), {"id": mine[5]["id"]})
    await flush()
    since = await moment()

    # The key's reads: a list and a by-id read (the standard executor: `me` is not
    # compiled), a compiled read, an export downloaded, and a change.
    before = path.served
    listed = await key.ok("{ employees(first: 2) { nodes { id firstName } } me { id } }")
    by_id = await key.ok(one % ("lastName", "me { id }"), {"id": mine[2]["id"]})
    assert path.served == before
    compiled = await key.ok(one % ("department", ""), {"id": mine[3]["id"]})
    assert path.served == before + 1
    flt = [{"field": "lastName", "value": mine[4]["lastName"]}]
    job = (
        await key.ok(
            START,
            {"sheet": "employees", "format": "NDJSON", "fields": ["workEmail"], "filter": flt},
        )
    )["startExport"]
    await flush()
    # The access log records an export when it is downloaded, not when it is started.
    store = services.store.for_tenant(tenant.id)
    started = await measure_impact(
        store, [Compromised("export_link", job["id"])], since, dt.datetime.now(dt.UTC)
    )
    assert started.records == 0 and started.exports_downloaded == 0
    exported = lines(await download(http, job["url"]))
    changed = mine[0]
    await key.ok(UPDATE, {"id": changed["id"], "v": changed["version"]})
    # Another principal reads everything in the same window: not the key's.
    await admin.ok("{ employees(first: 50) { nodes { id salary phone } } }")
    await flush()
    until = await moment()
    # After the window: not counted either.
    await key.ok(one % ("workEmail", ""), {"id": mine[5]["id"]})
    await flush()

    nodes = listed["employees"]["nodes"]
    received: dict[str, set[str]] = {}
    for node in [*nodes, by_id["employee"], compiled["employee"], *exported]:
        received.setdefault(str(node["id"]), set()).update(
            k for k in node if k in DATASHEETS["employees"].by_name
        )
    read_ids = sorted(received)
    assert len(read_ids) == 5 and mine[5]["id"] not in read_ids
    fields = sorted(set().union(*received.values()))
    assert fields == ["department", "firstName", "lastName", "workEmail"]
    affected = sorted({*read_ids, changed["id"]})

    impact = await measure_impact(
        services.store.for_tenant(tenant.id), [Compromised("api_key", key_id)], since, until
    )
    assert impact.principals == (key_id,)
    assert impact.exports_downloaded == 1
    assert [s.datasheet for s in impact.sheets] == ["employees"]
    sheet = impact.sheets[0]
    assert sheet.fields == tuple(fields)
    assert sheet.categories == tuple(sorted({CATEGORY[f] for f in fields}))
    assert sheet.records_read == len(read_ids)
    assert sheet.records_exported == len(exported) == 1
    assert sheet.records_changed == 1 and sheet.records_deleted == 0
    assert sheet.records == tuple(affected)
    assert impact.data_subjects == impact.records == len(affected)
    assert not {str(o["id"]) for o in others} & set(sheet.records)
    # The same when the logs are read an entry at a time.
    monkeypatch.setattr(impact_module, "_PAGE", 1)
    paged = await measure_impact(store, [Compromised("api_key", key_id)], since, until)
    assert paged == impact
    monkeypatch.undo()

    # The same through GraphQL, for admins only.
    variables = {"c": [{"kind": "API_KEY", "id": key_id}], "s": iso(since), "u": iso(until)}
    answer = (await admin.ok(IMPACT, variables))["breachImpact"]
    assert answer["principals"] == [key_id] and answer["dataSubjects"] == len(affected)
    assert answer["exportsDownloaded"] == 1 and answer["categories"] == list(sheet.categories)
    assert answer["sheets"] == [
        {
            "datasheet": "employees",
            "fields": fields,
            "categories": list(sheet.categories),
            "recordsRead": len(read_ids),
            "recordsExported": 1,
            "recordsChanged": 1,
            "recordsDeleted": 0,
            "records": affected,
        }
    ]
    refused = await http.post(
        "/graphql", json={"query": IMPACT, "variables": variables}, headers={"x-api-key": key.key}
    )
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # The export link alone: its download and nothing else.
    link = await measure_impact(
        services.store.for_tenant(tenant.id), [Compromised("export_link", job["id"])], since, until
    )
    assert link.exports_downloaded == 1 and link.principals == (key_id,)
    streamed = tuple(sorted(k for k in exported[0] if k in DATASHEETS["employees"].by_name))
    assert streamed == ("lastName", "workEmail")  # the filter's field is a column too
    assert [(s.records, s.fields) for s in link.sheets] == [((str(exported[0]["id"]),), streamed)]
    # The whole platform: the key's and the admin's reads.
    platform = await measure_impact(
        services.store.for_tenant(tenant.id), [Compromised("platform", None)], since, until
    )
    assert set(platform.principals) == {key_id, tenant.admin_id}
    assert platform.sheets[0].records_read == len(mine) + len(others)


def test_every_datasheet_field_declares_a_category() -> None:
    undeclared = [
        (sheet.name, f.name)
        for sheet in DATASHEETS.values()
        for f in sheet.fields
        if f.category is DataCategory.OTHER
    ]
    assert undeclared == []


CREATE_USER = """mutation($e: String!, $r: [String!]!, $p: String) {
  createUser(email: $e, roles: $r, canExport: true, password: $p) { id } }"""


async def test_a_session_impact_is_that_session_own(
    app: Starlette, http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "DE", "Session Breach Org")
    admin = GraphQLClient(http, tenant.token)
    sheet = DATASHEETS["employees"]
    records = sorted([str((await create_employee(admin))["id"]) for _ in range(3)])
    lastname = {
        r["id"]: r["lastName"]
        for r in (await admin.ok("{ employees { nodes { id lastName } } }"))["employees"]["nodes"]
    }
    await make_role(admin, "viewer", read=["firstName", "lastName"], export=True)
    email = f"{marker('s')}@example.com"
    user = await admin.ok(CREATE_USER, {"e": email, "r": ["viewer"], "p": PASSWORD})
    user_id = user["createUser"]["id"]
    flush = app.state.services.access.flush
    since = await moment()
    tokens = [(await login(http, tenant, email)).json()["data"]["login"] for _ in range(2)]
    first, second = (GraphQLClient(http, t["accessToken"]) for t in tokens)
    sids = [
        jwt.decode(t["accessToken"], options={"verify_signature": False})["sid"] for t in tokens
    ]
    assert sids[0] != sids[1]

    by_id = "query($id: ID!) { employee(id: $id) { id %s } }"
    await first.ok(by_id % "firstName", {"id": records[0]})
    await second.ok(by_id % "lastName", {"id": records[1]})
    flt = [{"field": "lastName", "value": lastname[records[2]]}]
    job = await first.ok(START, {"sheet": "employees", "format": "CSV", "filter": flt})
    assert (await download(http, job["startExport"]["url"])).status_code == 200
    await flush()
    until = await moment()
    store = services.store.for_tenant(tenant.id)

    def of(kind: str, ident: str) -> list[Compromised]:
        return [Compromised(kind, ident)]  # type: ignore[arg-type]

    one = await measure_impact(store, of("session", sids[0]), since, until)
    two = await measure_impact(store, of("session", sids[1]), since, until)
    both = await measure_impact(store, of("user", user_id), since, until)
    assert one.principals == two.principals == both.principals == (user_id,)
    assert one.sheets[0].records == (records[0], records[2]) and one.exports_downloaded == 1
    assert one.sheets[0].records_exported == 1
    assert one.sheets[0].fields == tuple(
        f.name for f in sheet.fields if f.name in {"firstName", "lastName"}
    )
    assert two.sheets[0].records == (records[1],) and two.exports_downloaded == 0
    assert two.sheets[0].fields == ("lastName",)
    assert both.sheets[0].records == tuple(records) and both.exports_downloaded == 1


async def test_deletions_and_erasures_count_as_deleted(
    app: Starlette, http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "DE", "Deleting Breach Org")
    admin = GraphQLClient(http, tenant.token)
    gone, erased, kept = [await create_employee(admin) for _ in range(3)]
    since = await moment()
    await admin.ok(
        "mutation($id: ID!, $v: Int!) { deleteEmployee(id: $id, expectedVersion: $v) { id } }",
        {"id": gone["id"], "v": gone["version"]},
    )
    await admin.ok(
        "mutation($e: String!) { eraseDataSubject(email: $e) { total } }",
        {"e": erased["workEmail"]},
    )
    await app.state.services.access.flush()
    until = await moment()
    impact = await measure_impact(
        services.store.for_tenant(tenant.id),
        [Compromised("user", tenant.admin_id)],
        since,
        until,
    )
    (sheet,) = impact.sheets
    assert sheet.records_deleted == 2 and sheet.records_changed == 0 and sheet.records_read == 0
    assert sheet.records == tuple(sorted([str(gone["id"]), str(erased["id"])]))
    assert str(kept["id"]) not in sheet.records and impact.principals == (tenant.admin_id,)
