"""Exports under combined roles: only the grants that allow export count, row by row and
field by field, however the caller's other roles read (users and role-scoped API keys)."""

from __future__ import annotations

import csv
import io

import httpx

from gateway.services import Services
from tests.support.client import GraphQLClient, make_tenant
from tests.support.employees import create_employee, marker
from tests.support.exports import START, download, lines
from tests.support.roles import make_role

CREATE_USER = """mutation($r: [String!]!) {
  createUser(email: "both@example.com", roles: $r, canExport: true) { id } }"""
CREATE_KEY = """mutation($r: String!) {
  createApiKey(name: "k", role: $r, canExport: true) { key } }"""


async def test_only_exporting_grants_decide_fields_rows_and_masks(
    http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "AT")
    admin = GraphQLClient(http, tenant.token)
    sales, other = marker("Sales"), marker("Other")
    in_sales = await create_employee(admin, department=sales, salary=70000)
    outside = await create_employee(admin, department=other, salary=90000)
    # Exports salary on Sales rows, names masked; reads (but may not export) everything.
    await make_role(
        admin,
        "sales-out",
        read=["salary", "department"],
        mask=["lastName"],
        export=True,
        rowFilter={"equals": [{"field": "department", "value": sales}]},
    )
    await make_role(admin, "reader", read=["salary", "department", "lastName"], export=False)
    user = (await admin.ok(CREATE_USER, {"r": ["sales-out", "reader"]}))["createUser"]["id"]
    as_user = GraphQLClient(http, services.tokens.issue(tenant.id, user, []))
    key = (await admin.ok(CREATE_KEY, {"r": "sales-out"}))["createApiKey"]["key"]

    async def export(fields: list[str] | None) -> list[dict[str, object]]:
        variables = {"sheet": "employees", "format": "NDJSON", "fields": fields}
        job = (await as_user.ok(START, variables))["startExport"]
        return lines(await download(http, job["url"]))

    rows = await export(None)
    assert [r["id"] for r in rows] == [in_sales["id"]]
    assert rows[0]["salary"] == 70000 and rows[0]["lastName"] != in_sales["lastName"]
    assert outside["id"] not in str(rows)
    # Asking by name for the other role's rows or unmasked names gets no more.
    assert [r["id"] for r in await export(["salary", "lastName"])] == [in_sales["id"]]
    body = await as_user(START, {"sheet": "employees", "format": "CSV", "fields": ["firstName"]})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    flt = [{"field": "lastName", "value": outside["lastName"]}]  # masked: no filtering by it
    body = await as_user(START, {"sheet": "employees", "format": "CSV", "filter": flt})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # A key scoped to the exporting role gets the same, and nothing of the other role.
    response = await http.post(
        "/graphql",
        json={"query": START, "variables": {"sheet": "employees", "format": "CSV"}},
        headers={"x-api-key": key},
    )
    job = response.json()["data"]["startExport"]
    text = (await download(http, job["url"])).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["id"] for r in rows] == [in_sales["id"]] and outside["id"] not in text
    assert rows[0]["salary"] == "70000" and rows[0]["lastName"] != in_sales["lastName"]
    assert in_sales["lastName"] not in text
