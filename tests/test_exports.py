"""Bulk exports: who may start one, what it holds, its one-time signed URL, its audit."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette

from gateway.services import Services
from gateway.settings import Settings
from regions.routing import database_name
from resolvers import exportstream
from resolvers.exportstream import escape_cell
from schema.errors import UnauthenticatedError
from tests.support.client import GraphQLClient, Tenant, make_tenant
from tests.support.employees import create_employee, marker
from tests.support.exports import START, download, export_done, exporter, lines
from tests.support.raw import plain_client, raw_bytes
from tests.support.roles import make_role, make_user

ME = "query { me { id } }"
UPDATE_USER = """mutation($id: ID!, $v: Int!, $export: Boolean) {
  updateUser(id: $id, expectedVersion: $v, canExport: $export) { id version canExport } }"""


@pytest.fixture(scope="module")
async def tenant(services: Services) -> Tenant:
    return await make_tenant(services, "FR", "Export Org")


@pytest.fixture
async def admin(http: httpx.AsyncClient, tenant: Tenant) -> GraphQLClient:
    return GraphQLClient(http, tenant.token)


async def start(client: GraphQLClient, fmt: str = "NDJSON", **variables: Any) -> dict[str, Any]:
    job: dict[str, Any] = (
        await client.ok(START, {"sheet": "employees", "format": fmt, **variables})
    )["startExport"]
    return job


async def test_export_needs_the_export_permission(
    http: httpx.AsyncClient, services: Services, tenant: Tenant, admin: GraphQLClient
) -> None:
    await make_role(admin, "no-export", read=["firstName"], export=True)
    user, _ = await make_user(admin, services, tenant, "nox@export.example", ["no-export"])
    body = await user(START, {"sheet": "employees", "format": "NDJSON"})
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # The role must allow export too, not only the user.
    await make_role(admin, "role-no-export", read=["firstName"])
    other, _ = await make_user(
        admin, services, tenant, "rnox@export.example", ["role-no-export"], can_export=True
    )
    body = await other(START, {"sheet": "employees", "format": "NDJSON"})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # Admins too need their own export permission.
    body = await admin(START, {"sheet": "employees", "format": "NDJSON"})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_export_holds_only_readable_columns_and_rows(
    http: httpx.AsyncClient, services: Services, tenant: Tenant, admin: GraphQLClient
) -> None:
    dept = marker("Sales")
    sales = [await create_employee(admin, department=dept) for _ in range(3)]
    await create_employee(admin, department=marker("Other"))
    client, _ = await exporter(
        admin,
        services,
        tenant,
        "sales-export",
        read=["firstName", "department"],
        mask=["workEmail"],
        export=True,
        rowFilter={"equals": [{"field": "department", "value": dept}]},
    )
    job = await start(client)
    assert job["columns"] == [
        "id",
        "firstName",
        "workEmail",
        "department",
        "version",
        "archived",
        "createdAt",
        "updatedAt",
    ]
    assert job["total"] == 3
    rows = lines(await download(http, job["url"]))
    assert [r["id"] for r in rows] == [e["id"] for e in sales]
    for row, employee in zip(rows, sales, strict=True):
        assert set(row) == set(job["columns"])
        assert row["firstName"] == employee["firstName"]
        assert row["workEmail"] == "•••@example.com"
        assert "salary" not in row and "lastName" not in row
    # A field the role may not read cannot be asked for.
    body = await client(START, {"sheet": "employees", "format": "NDJSON", "fields": ["salary"]})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_download_is_one_time_signed_and_expiring(
    http: httpx.AsyncClient, services: Services, tenant: Tenant, admin: GraphQLClient
) -> None:
    await create_employee(admin)
    client, _ = await exporter(
        admin, services, tenant, "once", read=["firstName", "lastName"], export=True
    )
    job = await start(client)
    parts = urlsplit(job["url"])
    query = parse_qs(parts.query)
    tampered = await http.get(f"{parts.path}?expires={query['expires'][0]}&sig={'0' * 64}")
    assert tampered.status_code == 404
    assert tampered.headers["cache-control"] == "no-store"  # refusals carry the headers too
    assert tampered.headers["x-content-type-options"] == "nosniff"
    assert tampered.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    for expires in ("%C2%B2", "9" * 5000):  # digits int() refuses: 404, not a crash
        odd = await http.get(f"{parts.path}?expires={expires}&sig={query['sig'][0]}")
        assert odd.status_code == 404

    # Two downloads at once: exactly one gets the records.
    first, second = await asyncio.gather(download(http, job["url"]), download(http, job["url"]))
    assert sorted([first.status_code, second.status_code]) == [200, 410]
    gone = first if first.status_code == 410 else second
    assert gone.json()["errors"][0]["extensions"]["code"] == "GONE"
    again = await download(http, job["url"])
    assert again.status_code == 410

    # A link signed for a time already past is refused, and does not use the job up.
    job = await start(client)
    tenant_id, job_id = urlsplit(job["url"]).path.split("/")[2:4]
    me = (await client.ok(ME))["me"]["id"]
    past = int(time.time()) - 1
    stale = services.export_urls.path(tenant_id, job_id, f"user:{me}", past)
    expired = await http.get(stale)
    assert expired.status_code == 410
    assert len(lines(await download(http, job["url"]))) >= 1


async def test_download_refused_once_export_permission_is_revoked(
    http: httpx.AsyncClient, services: Services, tenant: Tenant, admin: GraphQLClient
) -> None:
    await create_employee(admin)
    client, user = await exporter(
        admin, services, tenant, "revoked", read=["lastName"], export=True
    )
    job = await start(client)
    changed = await admin.ok(UPDATE_USER, {"id": user["id"], "v": user["version"], "export": False})
    refused = await download(http, job["url"])
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    attempts = await admin.ok(
        """query($actor: ID) { auditLog(first: 1, filter: {actor: $actor,
        operation: "exportDownload"}) { nodes { operation code outcome datasheet } } }""",
        {"actor": user["id"]},
    )
    assert attempts["auditLog"]["nodes"] == [
        {
            "operation": "exportDownload",
            "code": "FORBIDDEN",
            "outcome": "refused",
            "datasheet": "employees",
        }
    ]
    # Refusing did not use the download up.
    version = changed["updateUser"]["version"]
    await admin.ok(UPDATE_USER, {"id": user["id"], "v": version, "export": True})
    assert len(lines(await download(http, job["url"]))) >= 1


async def test_api_key_exports_and_revoked_key_is_refused(
    http: httpx.AsyncClient, services: Services, tenant: Tenant, admin: GraphQLClient
) -> None:
    await create_employee(admin)
    await make_role(admin, "etl-export", read=["firstName", "lastName"], export=True)
    created = await admin.ok(
        'mutation { createApiKey(name: "etl", role: "etl-export", canExport: true) '
        "{ key apiKey { id } } }"
    )
    key = created["createApiKey"]["key"]
    response = await http.post(
        "/graphql",
        json={"query": START, "variables": {"sheet": "employees", "format": "CSV"}},
        headers={"x-api-key": key},
    )
    job = response.json()["data"]["startExport"]
    key_id = created["createApiKey"]["apiKey"]["id"]
    await admin.ok(f'mutation {{ revokeApiKey(id: "{key_id}") {{ revoked }} }}')
    refused = await download(http, job["url"])
    assert refused.status_code == 403


async def test_csv_follows_the_declaration_and_defuses_formulas(
    http: httpx.AsyncClient, services: Services, tenant: Tenant, admin: GraphQLClient
) -> None:
    dept = marker("Formula")
    # (Stored values are stripped, so tabs and carriage returns lead no stored value; the
    # rule for them is checked on its own below.)
    nasty = ["=HYPERLINK(1)", "+1", "-2", "@SUM(A1)", 'Quote "and",\n comma']
    for name in nasty:
        await create_employee(admin, firstName=name, department=dept)
    client, _ = await exporter(
        admin,
        services,
        tenant,
        "csv-export",
        read=["department", "firstName", "salary", "startDate"],
        export=True,
    )
    job = await start(client, "CSV", filter=[{"field": "department", "value": dept}])
    response = await download(http, job["url"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(response.text)))
    header = table[0]
    assert header == [
        "id",
        "firstName",
        "department",
        "salary",
        "startDate",
        "version",
        "archived",
        "createdAt",
        "updatedAt",
    ]
    first_names = [row[1] for row in table[1:]]
    assert first_names == ["'" + n for n in nasty[:4]] + [nasty[4]]
    assert {row[3] for row in table[1:]} == {"65000"}


async def test_start_and_download_are_audited_without_values(
    http: httpx.AsyncClient,
    services: Services,
    settings: Settings,
    tenant: Tenant,
    admin: GraphQLClient,
    app: Starlette,
) -> None:
    last = marker("Auditname")
    await create_employee(admin, lastName=last)
    client, user = await exporter(
        admin, services, tenant, "audited", read=["firstName", "lastName"], export=True
    )
    job = await start(client, filter=[{"field": "lastName", "value": last}])
    assert len(lines(await download(http, job["url"]))) == 1
    log = await admin.ok(
        """query($actor: ID) { auditLog(first: 10, filter: {actor: $actor}) {
        nodes { operation actorId changes { field after } } } }""",
        {"actor": user["id"]},
    )
    operations = [n["operation"] for n in log["auditLog"]["nodes"]]
    assert operations[:3] == ["export_done", "export_download", "export"]
    started = log["auditLog"]["nodes"][2]
    assert started["changes"] == [{"field": "filter", "after": {"lastName": last}}]
    raw = plain_client(settings, "eu")
    try:
        db = raw[database_name(tenant.id)]
        entries = await db["audit"].find({"actor.id": user["id"]}).to_list()
        done = next(e for e in entries if e["op"] == "export_done")
        assert done["detail"]["rows"] == 1 and done["detail"]["complete"] is True
        assert done["detail"]["filterFields"] == ["lastName"]
        for doc in [*entries, *(await db["exports"].find({}).to_list())]:
            assert last.encode() not in raw_bytes(doc)
    finally:
        await raw.aclose()
    await app.state.services.access.flush()
    events = await admin.ok(
        """query($p: ID!, $s: DateTime!, $u: DateTime!) {
        principalAccess(principal: $p, since: $s, until: $u) { nodes { kind records } } }""",
        {"p": user["id"], "s": "2000-01-01T00:00:00Z", "u": "2100-01-01T00:00:00Z"},
    )
    kinds = [e["kind"] for e in events["principalAccess"]["nodes"]]
    assert kinds == ["export"]


def test_escape_cell_defuses_every_formula_start() -> None:
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert escape_cell(f"{start}1+1") == f"'{start}1+1"
    assert escape_cell("Anna") == "Anna"
    assert escape_cell(-5) == "-5"  # a number is no formula
    assert escape_cell(None) == ""


def test_escape_cell_defuses_formulas_after_whitespace_and_on_every_line() -> None:
    for text in (" =1+1", "\u00a0=1+1", 'ok\n=HYPERLINK("x")', "a\r\n+1", "x\n  @SUM(1)"):
        for line in escape_cell(text).splitlines():
            assert not line.lstrip().startswith(("=", "+", "-", "@")), text
    assert escape_cell(" =1") == "' =1"
    assert escape_cell("a-b\nc@d") == "a-b\nc@d"  # harmless text is left as it is


async def test_after_id_continues_in_id_order(
    http: httpx.AsyncClient, services: Services, tenant: Tenant, admin: GraphQLClient
) -> None:
    dept = marker("Resume")
    ids = [(await create_employee(admin, department=dept))["id"] for _ in range(5)]
    client, _ = await exporter(admin, services, tenant, "resume", read=["department"], export=True)
    flt = [{"field": "department", "value": dept}]
    # A record deleted meanwhile, even the one resumed after, changes nothing for the rest.
    await admin.ok(f'mutation {{ deleteEmployee(id: "{ids[1]}", expectedVersion: 1) {{ id }} }}')
    job = await start(client, filter=flt, after=ids[1])
    assert job["total"] == 3
    assert [r["id"] for r in lines(await download(http, job["url"]))] == ids[2:]
    bad = await client(START, {"sheet": "employees", "format": "NDJSON", "after": "x"})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_download_needs_an_active_tenant(
    http: httpx.AsyncClient, services: Services, settings: Settings, app: Starlette
) -> None:
    other = await make_tenant(services, "BE", "Suspended Org")
    admin = GraphQLClient(http, other.token)
    await create_employee(admin)
    client, _ = await exporter(admin, services, other, "susp", read=["lastName"], export=True)
    job = await start(client)
    raw = plain_client(settings, "eu")
    try:
        control = raw["enclave_control"]["tenants"]
        await control.update_one({"_id": other.id}, {"$set": {"status": "suspended"}})
        # The gateway caches tenants for a few seconds; this test does not wait for that.
        app.state.services.tenants.entries.pop(other.id, None)
        refused = await download(http, job["url"])
        assert refused.status_code == 403
        await control.update_one({"_id": other.id}, {"$set": {"status": "active"}})
        app.state.services.tenants.entries.pop(other.id, None)
        assert len(lines(await download(http, job["url"]))) == 1
    finally:
        await raw.aclose()


async def test_download_stops_when_the_tenant_is_suspended_midway(
    http: httpx.AsyncClient,
    services: Services,
    settings: Settings,
    app: Starlette,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = await make_tenant(services, "BE", "Suspended Midway Org")
    admin = GraphQLClient(http, other.token)
    for _ in range(3):
        await create_employee(admin)
    client, user = await exporter(admin, services, other, "midway", read=["lastName"], export=True)
    job = await start(client)
    monkeypatch.setattr(exportstream, "_CHUNK_RECORDS", 1)
    gateway = app.state.services
    record = gateway.access.add

    def suspend_after_first_chunk(tenant_id: str, event: Any) -> None:
        # The operator suspends the tenant while the first chunk is on its way (what the
        # gateway's tenant cache holds a few seconds later, without waiting for it).
        record(tenant_id, event)
        at, info = gateway.tenants.entries[tenant_id]
        gateway.tenants.entries[tenant_id] = (at, dataclasses.replace(info, status="suspended"))

    monkeypatch.setattr(gateway.access, "add", suspend_after_first_chunk)
    try:
        with pytest.raises(UnauthenticatedError):
            await download(http, job["url"])
    finally:
        gateway.tenants.entries.pop(other.id, None)
    done = await export_done(settings, other.id, user["id"])
    assert done is not None
    assert done["detail"]["rows"] == 1 and done["detail"]["complete"] is False
