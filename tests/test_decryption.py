"""A value under another tenant's key is never decrypted for a tenant, on any read path.

An insider with write access to the database (no master key) copies tenant A's
ciphertext into tenant B's documents (same region, same key vault), then reads as B's
admin through every path: each answers ``DATA_INTEGRITY``, A's plaintext appears
nowhere, the refusal is counted in ``/metrics`` and logged without values.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from typing import Any
from urllib.parse import urlsplit

import bson
import httpx
import pytest
from bson.binary import Binary
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.services import Services
from gateway.settings import Settings
from regions.routing import database_name
from schema.datasheets import DATASHEETS
from schema.errors import DataIntegrityError
from storage.mongo.decryption import installed, key_id_of, tenant_scope
from storage.mongo.store import MongoStore
from storage.values import Actor
from tests.support.client import GraphQLClient, Tenant, make_tenant
from tests.support.employees import (
    CREATE_EMPLOYEE,
    EMPLOYEE_FIELDS,
    UPDATE_EMPLOYEE,
    create_employee,
    employee_input,
    marker,
)
from tests.support.raw import plain_client

SECRETS = ("nationalId", "salary", "personalEmail", "address", "phone", "dateOfBirth")
GET = "query($id: ID!) {{ employee(id: $id) {{ {fields} }} }}"
LIST = "query { employees(first: 50) { nodes { id nationalId salary address phone } } }"
SUBJECT = "mutation($email: String!) { subjectAccess(email: $email) }"
AUDIT = """query($id: ID!) { auditLog(first: 10, filter: {record: $id}) {
  nodes { sequence changes { field before after } } } }"""
UPDATE_USER = """mutation($id: ID!) {
  updateUser(id: $id, expectedVersion: 1, canExport: true) { id } }"""
START = """mutation { startExport(datasheet: "employees", format: NDJSON,
  fields: ["nationalId", "salary"]) { id url } }"""
START_FILTERED = """mutation($v: String!) { startExport(datasheet: "employees", format: NDJSON,
  fields: ["jobTitle"], filter: [{field: "lastName", value: $v}]) { id url } }"""


def _metric(text: str) -> float:
    found = re.search(r'^enclave_data_integrity_errors_total\{region="eu"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def _refused(body: dict[str, Any]) -> None:
    assert body.get("data") in (None, {}) or all(v is None for v in body["data"].values()), body
    codes = [e["extensions"]["code"] for e in body["errors"]]
    assert codes == ["DATA_INTEGRITY"], body


@pytest.fixture(scope="module")
async def tenants(services: Services) -> tuple[Tenant, Tenant]:
    return await make_tenant(services, "DE", "Victim Org"), await make_tenant(
        services, "AT", "Insider Org"
    )


async def _copy(settings: Settings, a: Tenant, b: Tenant, coll: str, src: Any, dst: Any) -> None:
    """As the insider: A's ciphertext fields of document *src* into B's document *dst*."""
    raw = plain_client(settings, "eu")
    try:
        source = await raw[database_name(a.id)][coll].find_one({"_id": src})
        assert source is not None
        values = {k: v for k, v in source.items() if isinstance(v, Binary) and v.subtype == 6}
        assert values
        await raw[database_name(b.id)][coll].update_one({"_id": dst}, {"$set": values})
    finally:
        await raw.close()


async def test_foreign_ciphertext_is_refused_on_every_read_path(
    http: httpx.AsyncClient,
    app: Starlette,
    settings: Settings,
    services: Services,
    tenants: tuple[Tenant, Tenant],
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b = tenants
    victim, insider = GraphQLClient(http, a.token), GraphQLClient(http, b.token)
    secret = marker("nid")
    email = f"{marker('home')}@victim.example"
    target = await create_employee(
        victim, nationalId=secret, personalEmail=email, address=f"{secret} road", salary=987654
    )
    await victim.ok(UPDATE_EMPLOYEE, {"id": target["id"], "v": 1, "input": {"salary": 987655}})
    own_email = f"{marker('own')}@insider.example"
    mine = await create_employee(insider, personalEmail=own_email)
    # Copy every encrypted field but the email, so that B's subject access still finds it.
    raw = plain_client(settings, "eu")
    try:
        source = await raw[database_name(a.id)]["employees"].find_one({"_id": target["id"]})
        assert source is not None
        copied = {k: source[k] for k in SECRETS if k != "personalEmail"}
        assert all(isinstance(v, Binary) and v.subtype == 6 for v in copied.values())
        await raw[database_name(b.id)]["employees"].update_one(
            {"_id": mine["id"]}, {"$set": copied}
        )
    finally:
        await raw.close()
    before = _metric((await http.get("/metrics")).text)
    caplog.set_level(logging.ERROR, logger="enclave.storage.decryption")
    answers: list[str] = []

    async def refused(query: str, variables: dict[str, Any] | None = None) -> None:
        body = await insider(query, variables)
        answers.append(json.dumps(body))
        _refused(body)

    # Records by id (compiled and the Strawberry path), lists, subject access.
    await refused(GET.format(fields=EMPLOYEE_FIELDS), {"id": mine["id"]})
    await refused(GET.format(fields="id nationalId"), {"id": mine["id"]})
    await refused(LIST)
    body = await insider(LIST)
    assert mine["id"] in body["errors"][0]["extensions"]["records"]
    await refused(SUBJECT, {"email": own_email})
    standard = create_app(settings.model_copy(update={"compiled_reads": False}), background=False)
    async with standard.router.lifespan_context(standard):
        transport = httpx.ASGITransport(app=standard, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as other:
            slow = GraphQLClient(other, b.token)
            for query, variables in (
                (GET.format(fields=EMPLOYEE_FIELDS), {"id": mine["id"]}),
                (LIST, None),
            ):
                body = await slow(query, variables)
                answers.append(json.dumps(body))
                _refused(body)

    # Exports: the rows, then a job whose filter blob is A's.
    for client, tenant in ((victim, a), (insider, b)):
        await client.ok(UPDATE_USER, {"id": tenant.admin_id})
    job = (await insider.ok(START))["startExport"]
    parts = urlsplit(job["url"])
    download = await http.get(f"{parts.path}?{parts.query}")
    answers.append(download.text)
    assert secret not in download.text and "987655" not in download.text
    assert download.status_code == 500 and "DATA_INTEGRITY" in download.text, download.text
    theirs = (await victim.ok(START_FILTERED, {"v": secret}))["startExport"]
    ours = (await insider.ok(START_FILTERED, {"v": "Nobody"}))["startExport"]
    await _copy(settings, a, b, "exports", theirs["id"], ours["id"])
    parts = urlsplit(ours["url"])
    download = await http.get(f"{parts.path}?{parts.query}")
    answers.append(download.text)
    assert download.status_code == 500 and "DATA_INTEGRITY" in download.text, download.text

    # Audit values: A's change blob in B's entry.
    raw = plain_client(settings, "eu")
    try:
        theirs_entry = await raw[database_name(a.id)]["audit"].find_one(
            {"record": target["id"], "op": "update"}
        )
        ours_entry = await raw[database_name(b.id)]["audit"].find_one(
            {"record": mine["id"], "op": "create"}
        )
        assert theirs_entry is not None and ours_entry is not None
    finally:
        await raw.close()
    await _copy(settings, a, b, "audit_values", theirs_entry["values"], ours_entry["values"])
    await refused(AUDIT, {"id": mine["id"]})

    # Sign-in: A's ciphertext in B's admin user document (e.g. as its TOTP secret).
    await _copy(settings, a, b, "users", a.admin_id, b.admin_id)
    credentials = services.store.for_tenant(b.id).credentials
    with pytest.raises(DataIntegrityError):
        await credentials.by_id(b.admin_id)
    with pytest.raises(DataIntegrityError):
        await services.store.for_tenant(b.id).users.get(b.admin_id)

    # Idempotency answers: A's stored answer under B's key.
    redis = services.redis

    async def idempotent(tenant: Tenant, key: str, **values: Any) -> httpx.Response:
        return await http.post(
            "/graphql",
            json={"query": CREATE_EMPLOYEE, "variables": {"input": employee_input(**values)}},
            headers={"authorization": f"Bearer {tenant.token}", "idempotency-key": key},
        )

    async def held(tenant: Tenant) -> tuple[str, dict[str, Any]]:
        name = next(iter([n async for n in redis.scan_iter(match=f"enclave:idem:{tenant.id}:*")]))
        stored = await redis.get(name)
        assert stored is not None
        return name, json.loads(stored)

    assert secret in (await idempotent(a, "victim-key", nationalId=secret)).text
    ours_request = await idempotent(b, "insider-key")
    assert ours_request.status_code == 200
    _, theirs_held = await held(a)
    name, ours_held = await held(b)
    await redis.set(name, json.dumps({**ours_held, "answer": theirs_held["answer"]}))
    replay = await http.post(
        "/graphql",
        content=ours_request.request.content,
        headers={
            "authorization": f"Bearer {b.token}",
            "idempotency-key": "insider-key",
            "content-type": "application/json",
        },
    )
    answers.append(replay.text)
    assert replay.status_code == 500, replay.text
    assert replay.json()["errors"][0]["extensions"]["code"] == "DATA_INTEGRITY"

    # A's plaintext appears nowhere; counted; logged without values or ciphertext.
    everything = "\n".join(answers)
    for plain in (secret, "987654", "987655", email):
        assert plain not in everything
    assert _metric((await http.get("/metrics")).text) >= before + 10
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "refused to decrypt" in logged and b.id in logged
    assert secret not in logged and "987655" not in logged
    blob = copied["nationalId"]
    assert base64.b64encode(bytes(blob)).decode()[:24] not in logged
    assert bytes(blob)[17:].hex()[:24] not in logged

    # The victim still reads its own record.
    own = await victim.ok(GET.format(fields="nationalId salary"), {"id": target["id"]})
    assert own["employee"] == {"nationalId": secret, "salary": 987655}


async def test_a_page_is_one_decryption_context_and_the_check_is_in_pymongos_path(
    services: Services, settings: Settings, eu_tenant: Tenant, eu: GraphQLClient
) -> None:
    for _ in range(3):
        await create_employee(eu)
    region = MongoStore.of(services.store).registry["eu"]
    check = installed(region)
    sheet_store = services.store.for_tenant(eu_tenant.id)
    sheet = DATASHEETS["employees"]
    before = check.contexts
    page = await sheet_store.records.page(sheet, ["nationalId", "salary", "firstName"], first=50)
    assert len(page.records) >= 3
    assert all(isinstance(r.values["nationalId"], str) for r in page.records)
    assert check.contexts == before + 1  # the whole reply: one libmongocrypt context

    # PyMongo still routes every reply through AsyncMongoClient._encrypter.decrypt: a read
    # on the data client outside any tenant scope, or in another tenant's, is refused.
    coll = region.data[database_name(eu_tenant.id)]["employees"]
    with pytest.raises(DataIntegrityError):
        await coll.find_one({}, {"nationalId": 1})
    other = await make_tenant(services, "FR", "Other Org")
    with tenant_scope(other.id), pytest.raises(DataIntegrityError):
        await coll.find_one({}, {"nationalId": 1})
    with tenant_scope(eu_tenant.id):
        doc = await coll.find_one({}, {"nationalId": 1})
    assert doc is not None and isinstance(doc["nationalId"], str)

    # Nested values are checked too: another tenant's blob deep inside a field.
    foreign = Binary(await sheet_store.documents.encrypt({"x": 1}), 6)
    theirs = services.store.for_tenant(other.id)
    made = await theirs.records.create(
        sheet,
        {"firstName": "N", "lastName": "E", "workEmail": "n.e@example.com", "status": "ACTIVE"},
        Actor(user_id=other.admin_id),
    )
    await region.plain[database_name(other.id)]["employees"].update_one(
        {"_id": made.id}, {"$set": {"address": {"lines": [{"deep": foreign}]}}}
    )
    with pytest.raises(DataIntegrityError) as refused:
        await theirs.records.get(sheet, made.id, ["address"])
    assert refused.value.extensions["records"] == [made.id]

    # The key id a ciphertext names is the tenant's data key.
    raw = plain_client(settings, "eu")
    try:
        stored = await raw[database_name(eu_tenant.id)]["employees"].find_one({})
        assert stored is not None
        assert key_id_of(stored["nationalId"]) == await check.keys.get(eu_tenant.id)
        assert key_id_of(Binary(bson.encode({"x": 1}), 6)) is None
    finally:
        await raw.close()
