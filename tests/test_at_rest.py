"""What a database operator sees: ciphertext for every sensitive value, nothing in plaintext,
and every tenant's data on its own region's server only."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gateway.dev.servers import LocalStack
from gateway.services import Services
from gateway.settings import Settings
from regions.routing import database_name
from schema.datasheets import DATASHEETS
from storage.values import Actor
from tests.support.client import GraphQLClient, Tenant, make_tenant
from tests.support.employees import UPDATE_EMPLOYEE, create_employee, employee_input, marker
from tests.support.raw import all_documents, is_ciphertext, plain_client, raw_bytes

SENSITIVE = (
    "firstName",
    "lastName",
    "workEmail",
    "personalEmail",
    "phone",
    "dateOfBirth",
    "nationalId",
    "address",
    "salary",
)


async def _write_markers(client: GraphQLClient, tag: str) -> list[str]:
    """Create and update a record whose sensitive values are all unique markers."""
    values = employee_input(
        firstName=marker(f"{tag}first"),
        lastName=marker(f"{tag}last"),
        workEmail=f"{marker(tag + 'work')}@example.com",
        personalEmail=f"{marker(tag + 'home')}@example.org",
        phone=marker(f"{tag}phone"),
        nationalId=marker(f"{tag}nid"),
        address=marker(f"{tag}addr"),
    )
    rec = await create_employee(client, **values)
    new_address = marker(f"{tag}newaddr")
    await client.ok(UPDATE_EMPLOYEE, {"id": rec["id"], "v": 1, "input": {"address": new_address}})
    strings = [v for k, v in values.items() if k in SENSITIVE and isinstance(v, str)]
    # A persisted query with values written in it: refused, so never stored.
    searched = marker(f"{tag}apq")
    document = f'{{ employees(first: 1, filter: {{lastName: "{searched}"}}) {{ nodes {{ id }} }} }}'
    persisted = {"version": 1, "sha256Hash": hashlib.sha256(document.encode()).hexdigest()}
    response = await client.http.post(
        "/graphql",
        json={"query": document, "extensions": {"persistedQuery": persisted}},
        headers={"authorization": f"Bearer {client.token}"},
    )
    assert response.status_code == 400
    return [*strings, new_address, searched]


async def test_sensitive_values_are_ciphertext_and_no_plaintext_is_anywhere(
    eu: GraphQLClient,
    us: GraphQLClient,
    eu_tenant: Tenant,
    us_tenant: Tenant,
    settings: Settings,
    stack: LocalStack | None,
) -> None:
    markers = await _write_markers(eu, "eu") + await _write_markers(us, "us")
    encrypted = {f.name for sheet in DATASHEETS.values() for f in sheet.fields if f.encrypted}
    # The shape of what the gateway writes is checked in the tenants written here; other
    # tests plant documents of other shapes as a database insider would (tests/test_
    # decryption.py). No plaintext marker may be anywhere, whoever wrote it.
    written = {database_name(t.id) for t in (eu_tenant, us_tenant)}
    seen_records = 0
    for region in ("eu", "us"):
        client = plain_client(settings, region)
        try:
            async for db, coll, doc in all_documents(client):
                blob = raw_bytes(doc)
                for m in markers:
                    assert m.encode() not in blob, f"plaintext {m} in {region}:{db}.{coll}"
                if db in written and coll in DATASHEETS:
                    seen_records += 1
                    for name in encrypted & doc.keys():
                        assert is_ciphertext(doc[name]), f"{db}.{coll}.{name} is not ciphertext"
                if db.startswith("tenant_") and coll == "audit_values":
                    assert doc.get("redacted") or is_ciphertext(doc["change"])
                if db.startswith("tenant_") and coll == "users":
                    assert is_ciphertext(doc["email"])
        finally:
            await client.close()
    assert seen_records >= 2
    if stack is not None:  # the servers' own files on disk hold no plaintext either
        for path in Path(stack.root).rglob("*"):
            if path.is_file() and "logs" not in path.parts:
                content = path.read_bytes()
                for m in markers:
                    assert m.encode() not in content, f"plaintext {m} in {path}"


async def test_each_tenant_lives_only_in_its_region(services: Services, settings: Settings) -> None:
    tenants = {
        "eu": [await make_tenant(services, c) for c in ("FR", "NG", "TR")],
        "us": [await make_tenant(services, c) for c in ("BR", "JP", "AU")],
    }
    for region, group in tenants.items():
        for tenant in group:
            assert tenant.id.startswith(f"{region}_")
            store = services.store.for_tenant(tenant.id)
            sheet = DATASHEETS["contacts"]
            actor = Actor(user_id=tenant.admin_id)
            values = {"firstName": "A", "lastName": tenant.id, "kind": "OTHER"}
            rec = await store.records.create(sheet, values, actor)
            await store.records.update(sheet, rec.id, 1, {"company": "X"}, actor)
    for region in ("eu", "us"):
        other = "us" if region == "eu" else "eu"
        client = plain_client(settings, region)
        try:
            names = await client.list_database_names()
            for tenant in tenants[other]:
                assert f"tenant_{tenant.id}" not in names
            for tenant in tenants[region]:
                assert f"tenant_{tenant.id}" in names
            async for db, coll, doc in all_documents(client):
                blob = raw_bytes(doc)
                for tenant in tenants[other]:
                    assert tenant.id.encode() not in blob, (
                        f"{tenant.id} found in {region}:{db}.{coll}"
                    )
            vault = client["encryption"]["__keyVault"]
            alt_names = {n async for d in vault.find({}) for n in d.get("keyAltNames", [])}
            # No key of the other region's tenants (other tests add keys of their own).
            assert not any(n.startswith(f"{other}_") for n in alt_names)
            assert {t.id for t in tenants[region]} <= alt_names
        finally:
            await client.close()


@pytest.mark.parametrize("region", ["eu", "us"])
async def test_control_records_hold_no_personal_data(
    services: Services, settings: Settings, region: str
) -> None:
    email = f"{marker('operatorview')}@example.com"
    info, _ = await services.store.create_tenant("Org", "DE" if region == "eu" else "US", email)
    client = plain_client(settings, region)
    try:
        doc = await client["enclave_control"]["tenants"].find_one({"_id": info.id})
        assert doc is not None and doc["status"] == "active"
        assert email.encode() not in raw_bytes(doc)
    finally:
        await client.close()
