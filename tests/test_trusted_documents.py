"""The database operator (read and write access, none of the gateway's key files) cannot
sign in, widen a role or rebind a tenant's key by writing documents: every document the
gateway trusts for access carries a MAC under a key the database never holds
(``storage.documentmac``), and one that fails is refused (and counted in /metrics)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from pymongo import AsyncMongoClient
from starlette.applications import Starlette
from ulid import ULID

from gateway.app import create_app
from gateway.cli.tenants import issue_setup_code
from gateway.services import Services
from gateway.settings import Settings
from regions.clients import KEY_VAULT_NAMESPACE
from regions.routing import database_name
from schema.errors import DataIntegrityError
from storage.values import OPERATOR
from tests.support.client import GraphQLClient, Tenant, make_tenant
from tests.support.employees import CREATE_EMPLOYEE, create_employee, employee_input
from tests.support.raw import plain_client
from tests.support.roles import make_role
from tests.support.signins import PASSWORD, REFRESH, activate, anonymous, login, new_user


@pytest.fixture
async def raw(settings: Settings) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    """The EU cluster as its operator reaches it: a plain client, no keys."""
    client = plain_client(settings, "eu")
    try:
        yield client
    finally:
        await client.close()


Client = AsyncMongoClient[dict[str, Any]]
EMPLOYEES = "query { employees(first: 10) { nodes { id lastName } } }"


def _sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    return str(body["errors"][0]["extensions"]["code"])


async def _refused(http: httpx.AsyncClient, kind: str) -> float:
    """How many documents of *kind* /metrics counts as refused."""
    text = (await http.get("/metrics")).text
    found = re.search(rf'enclave_document_mac_refused_total{{kind="{kind}"}} (\S+)', text)
    return float(found.group(1)) if found else 0.0


async def test_a_session_written_in_the_database_refreshes_nothing(
    raw: Client, services: Services, http: httpx.AsyncClient, eu_tenant: Tenant
) -> None:
    db = raw[database_name(eu_tenant.id)]
    before = await _refused(http, "sessions")
    sid, secret, now = str(ULID()), secrets.token_urlsafe(32).replace("_", "-"), dt.datetime.now()
    await db["sessions"].insert_one(
        {
            "_id": sid,
            "user": eu_tenant.admin_id,
            "scope": None,
            "hash": _sha(secret),
            "createdAt": now,
            "expiresAt": now + dt.timedelta(days=1),
            "revoked": False,
        }
    )
    forged = await anonymous(http, REFRESH, {"r": f"ers_{eu_tenant.id}_{sid}_{secret}"})
    assert _code(forged.json()) == "UNAUTHENTICATED"
    assert await _refused(http, "sessions") > before

    # A real session still refreshes; its document copied to another id (or with its
    # expiry pushed out) does not.
    email = await new_user(http, eu_tenant)
    refresh = (await login(http, eu_tenant, email)).json()["data"]["login"]["refreshToken"]
    real_sid, real_secret = refresh.split("_")[3], refresh.split("_")[4]
    doc = await db["sessions"].find_one({"_id": real_sid})
    assert doc is not None and doc.get("_mac")
    copy = str(ULID())
    await db["sessions"].insert_one({**doc, "_id": copy})
    moved = await anonymous(http, REFRESH, {"r": f"ers_{eu_tenant.id}_{copy}_{real_secret}"})
    assert _code(moved.json()) == "UNAUTHENTICATED"
    rotated = await anonymous(http, REFRESH, {"r": refresh})
    assert "errors" not in rotated.json(), rotated.json()
    fresh = rotated.json()["data"]["refreshSession"]["refreshToken"]
    await db["sessions"].update_one(
        {"_id": real_sid}, {"$set": {"expiresAt": dt.datetime.now() + dt.timedelta(days=3650)}}
    )
    assert _code((await anonymous(http, REFRESH, {"r": fresh})).json()) == "UNAUTHENTICATED"


async def test_an_api_key_copied_from_another_tenant_is_refused(
    raw: Client, http: httpx.AsyncClient, services: Services
) -> None:
    a, b = await make_tenant(services, "AT"), await make_tenant(services, "BE")
    made = await GraphQLClient(http, a.token).ok(
        'mutation { createApiKey(name: "a", role: "admin") { key apiKey { id } } }'
    )
    key, key_id = made["createApiKey"]["key"], made["createApiKey"]["apiKey"]["id"]
    doc = await raw[database_name(a.id)]["api_keys"].find_one({"_id": key_id})
    assert doc is not None
    await raw[database_name(b.id)]["api_keys"].insert_one(doc)
    in_b = GraphQLClient(http, key.replace(a.id, b.id))
    body = await in_b.raw("{ users { id } }")
    assert body.status_code == 401 or _code(body.json()) == "UNAUTHENTICATED", body.text


async def test_a_setup_code_written_in_the_database_activates_nothing(
    raw: Client, services: Services, http: httpx.AsyncClient
) -> None:
    info, admin = await services.store.create_tenant("Forged", "PT", "first@example.com")
    db = raw[database_name(info.id)]
    code, now = secrets.token_urlsafe(32), dt.datetime.now()
    await db["setup_codes"].insert_one(
        {"_id": _sha(code), "user": admin.id, "createdAt": now, "expiresAt": now + dt.timedelta(1)}
    )
    body = await activate(http, info.id, "first@example.com", code)
    assert _code(body) == "UNAUTHENTICATED"
    # The one the CLI issues works (the CLI holds the key too).
    real = (await issue_setup_code(services, info.id, admin.id))["setupCode"]
    assert "errors" not in await activate(http, info.id, "first@example.com", real)


async def test_a_user_edited_in_the_database_cannot_sign_in(
    raw: Client, http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "NL")
    admin = GraphQLClient(http, tenant.token)
    db = raw[database_name(tenant.id)]
    # A user without roles made admin, and an admin given a password the insider knows.
    plain = f"p{uuid.uuid4().hex[:8]}@example.com"
    await admin.ok(
        "mutation($e: String!, $p: String) { createUser(email: $e, roles: [], password: $p) "
        "{ id } }",
        {"e": plain, "p": PASSWORD},
    )
    assert "errors" not in (await login(http, tenant, plain)).json()
    await db["users"].update_one(
        {"_id": {"$ne": tenant.admin_id}, "roles": []},
        {"$set": {"roles": ["admin"], "canExport": True}},
    )
    assert _code((await login(http, tenant, plain)).json()) == "UNAUTHENTICATED"

    victim = await new_user(http, tenant)
    known = "the insider knows this one"
    users = await db["users"].find({"roles": "admin", "passwordHash": {"$exists": True}}).to_list()
    for user in users:
        await db["users"].update_one(
            {"_id": user["_id"]}, {"$set": {"passwordHash": PasswordHasher().hash(known)}}
        )
    assert _code((await login(http, tenant, victim, known)).json()) == "UNAUTHENTICATED"
    assert _code((await login(http, tenant, victim)).json()) == "UNAUTHENTICATED"
    # A user the gateway made is listed; the edited ones are not (treated as absent).
    listed = await admin.ok("{ users { id } }")
    assert {u["id"] for u in listed["users"]} == {tenant.admin_id}
    assert await _refused(http, "users") > 0


async def test_a_role_widened_in_the_database_grants_nothing(
    settings: Settings, raw: Client, http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "LU")
    admin = GraphQLClient(http, tenant.token)
    await create_employee(admin)
    await make_role(admin, "reader", read=["firstName"])
    email = f"r{uuid.uuid4().hex[:8]}@example.com"
    await admin.ok(
        'mutation($e: String!, $p: String) { createUser(email: $e, roles: ["reader"], '
        "password: $p) { id } }",
        {"e": email, "p": PASSWORD},
    )
    token = (await login(http, tenant, email)).json()["data"]["login"]["accessToken"]
    reader = GraphQLClient(http, token)
    assert (await reader.ok("query { employees(first: 10) { nodes { id firstName } } }"))[
        "employees"
    ]["nodes"]
    assert "errors" in await reader(EMPLOYEES)  # lastName is not granted

    db = raw[database_name(tenant.id)]
    role = await db["roles"].find_one({"_id": "reader"})
    assert role is not None
    grant = role["sheets"]["employees"]
    grant["read"] = [*grant["read"], "lastName"]
    # A higher _seq makes every gateway reload the roles (the policy version).
    await db["roles"].update_one(
        {"_id": "reader"}, {"$set": {"sheets": role["sheets"], "_seq": 10**9}}
    )
    fresh = create_app(settings, background=False)  # no policy cached
    async with fresh.router.lifespan_context(fresh):
        transport = httpx.ASGITransport(app=fresh, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as other:
            widened = await GraphQLClient(other, token)(EMPLOYEES)
            assert _code(widened) == "FORBIDDEN"  # still not granted: the role grants nothing
    names = [r["name"] for r in (await admin.ok("{ roles { name } }"))["roles"]]
    assert "reader" not in names


async def test_an_api_key_written_in_the_database_is_refused(
    raw: Client, http: httpx.AsyncClient, eu_tenant: Tenant
) -> None:
    admin = GraphQLClient(http, eu_tenant.token)
    made = await admin.ok(
        'mutation { createApiKey(name: "real", role: "admin") { key apiKey { id } } }'
    )
    real = made["createApiKey"]["key"]
    assert "errors" not in await GraphQLClient(http, real)("{ me { id } }")

    db = raw[database_name(eu_tenant.id)]
    key_id, secret = str(ULID()), secrets.token_urlsafe(32).replace("_", "-")
    await db["api_keys"].insert_one(
        {
            "_id": key_id,
            "name": "forged",
            "role": "admin",
            "canExport": True,
            "hash": _sha(secret),
            "revoked": False,
            "_v": 1,
            "_created": dt.datetime.now(),
        }
    )
    forged = await GraphQLClient(http, f"enk_{eu_tenant.id}_{key_id}_{secret}").raw("{ me { id } }")
    assert forged.status_code == 401 or _code(forged.json()) == "UNAUTHENTICATED"
    # A revoked key made valid again in the database stays refused.
    real_id = made["createApiKey"]["apiKey"]["id"]
    await admin.ok("mutation($id: ID!) { revokeApiKey(id: $id) { id } }", {"id": real_id})
    await db["api_keys"].update_one({"_id": real_id}, {"$set": {"revoked": False}})
    again = await GraphQLClient(http, real).raw("{ me { id } }")
    assert again.status_code == 401 or _code(again.json()) == "UNAUTHENTICATED"


async def test_settings_changed_in_the_database_keep_the_stricter_mode(
    raw: Client, services: Services, http: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(services, "IE")
    store = services.store.for_tenant(tenant.id)
    admin = GraphQLClient(http, tenant.token)
    await admin.ok("mutation { requireTwoFactor(required: true) }")
    await store.operations.set_allow_list(True, OPERATOR)
    db = raw[database_name(tenant.id)]
    await db["settings"].update_many({}, {"$set": {"requireTwoFactor": False, "allowList": False}})
    assert await store.credentials.two_factor_required()
    assert await store.operations.allow_list()
    # A settings document copied from another tenant is refused the same way.
    other = await make_tenant(services, "DK")
    other_db = raw[database_name(other.id)]
    await services.store.for_tenant(other.id).operations.set_allow_list(False, OPERATOR)
    mode = await other_db["settings"].find_one({"_id": "operations"})
    assert mode is not None
    await db["settings"].replace_one({"_id": "operations"}, mode)
    assert await store.operations.allow_list()
    assert services.metrics.documents_refused.labels("settings")._value.get() >= 3


async def test_a_rewritten_key_alt_name_decrypts_and_encrypts_nothing(
    settings: Settings, raw: Client, services: Services
) -> None:
    victim, insider = await make_tenant(services, "SE"), await make_tenant(services, "FI")
    vault_db, vault_coll = KEY_VAULT_NAMESPACE.split(".", 1)
    vault = raw[vault_db][vault_coll]
    # Point the insider's tenant id at the victim's data key.
    await vault.update_one({"keyAltNames": insider.id}, {"$set": {"keyAltNames": ["moved"]}})
    await vault.update_one({"keyAltNames": victim.id}, {"$set": {"keyAltNames": [insider.id]}})
    fresh = create_app(settings, background=False)  # a gateway that has cached no key id
    async with fresh.router.lifespan_context(fresh):
        transport = httpx.ASGITransport(app=fresh, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as other:
            insider_client = GraphQLClient(other, insider.token)
            body = (await insider_client.raw(CREATE_EMPLOYEE, {"input": employee_input()})).json()
            assert _code(body) == "DATA_INTEGRITY"  # nothing encrypted under the victim's key
            assert _code((await insider_client.raw(EMPLOYEES)).json()) == "DATA_INTEGRITY"
            assert await _refused(other, "data_key") > 0
    # Nothing is encrypted under the victim's key for the insider either (which the insider
    # could then copy into the victim's records), even on a path that reads no ciphertext.
    gateway = Services.from_settings(settings)
    try:
        credentials = gateway.store.for_tenant(insider.id).credentials
        with pytest.raises(DataIntegrityError):
            await credentials.set_totp_pending(insider.admin_id, "JBSWY3DPEHPK3PXP", OPERATOR)
    finally:
        await gateway.aclose()


async def test_a_control_record_edited_in_the_database_serves_nothing(
    raw: Client, services: Services, http: httpx.AsyncClient, app: Starlette
) -> None:
    tenant = await make_tenant(services, "CZ")
    lifecycle = services.store.lifecycle()
    await lifecycle.suspend(tenant.id, OPERATOR)
    admin = GraphQLClient(http, tenant.token)
    suspended = await admin.raw("{ me { id } }")
    assert suspended.status_code != 200 or "errors" in suspended.json()
    control = raw["enclave_control"]["tenants"]
    await control.update_one({"_id": tenant.id}, {"$set": {"status": "active"}})
    app.state.services.tenants.entries.pop(tenant.id, None)  # no waiting for the cache
    edited = await admin.raw("{ me { id } }")
    assert edited.status_code == suspended.status_code and "errors" in edited.json(), edited.text
    assert await services.store.get_tenant(tenant.id) is None
    with pytest.raises(DataIntegrityError):
        await lifecycle.resume(tenant.id, OPERATOR)
    assert await _refused(http, "control") > 0


async def test_a_key_used_while_it_is_revoked_stays_revoked(
    services: Services, eu_tenant: Tenant
) -> None:
    """FerretDB writes a whole document back on update: a last-use write to the key's own
    document, racing its revocation, could bring the key back. Bounded: 8 keys, each used
    at most 200 times while it is revoked."""
    store = services.store.for_tenant(eu_tenant.id)
    for _ in range(8):
        key, plain = await store.api_keys.create("raced", "admin", False, OPERATOR)
        secret = plain.rsplit("_", 1)[1]
        revoking = asyncio.create_task(store.api_keys.revoke(key.id, OPERATOR))
        for _ in range(200):
            if revoking.done():
                break
            await asyncio.gather(
                *(store.api_keys.touch(key.id, dt.datetime.now(dt.UTC)) for _ in range(2))
            )
        await revoking
        assert await store.api_keys.check(key.id, secret) is None
        listed = {k.id: k for k in await store.api_keys.all()}
        assert listed[key.id].revoked


async def test_documents_from_before_macs_are_sealed_once_and_audited(
    raw: Client, services: Services, http: httpx.AsyncClient, app: Starlette
) -> None:
    tenant = await make_tenant(services, "HU")
    email = await new_user(http, tenant)
    db = raw[database_name(tenant.id)]
    control = raw["enclave_control"]["tenants"]
    # As an earlier version left them: no MACs anywhere; and one document edited since.
    await control.update_one({"_id": tenant.id}, {"$unset": {"_mac": "", "keyMac": ""}})
    for kind in ("users", "roles", "api_keys", "settings", "sessions", "setup_codes"):
        await db[kind].update_many({}, {"$unset": {"_mac": ""}})
    forged = str(ULID())
    await db["api_keys"].insert_one({"_id": forged, "role": "admin", "_mac": "0" * 64})
    app.state.services.tenants.entries.pop(tenant.id, None)
    assert _code((await login(http, tenant, email)).json()) == "UNAUTHENTICATED"

    report = await services.store.keys.seal_documents(OPERATOR)
    assert report[tenant.id]["users"] == 2 and report[tenant.id]["control"] == 1
    assert (await db["api_keys"].find_one({"_id": forged}) or {})["_mac"] == "0" * 64
    fresh = create_app(services.settings, background=False)  # no key id cached
    async with fresh.router.lifespan_context(fresh):
        transport = httpx.ASGITransport(app=fresh, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as other:
            assert "errors" not in (await login(other, tenant, email)).json()
            log = await GraphQLClient(other, tenant.token).ok(
                "{ auditLog(first: 50) { nodes { operation actorKind } } }"
            )
    assert {"operation": "documents_sealed", "actorKind": "operator"} in log["auditLog"]["nodes"]
    assert await services.store.keys.seal_documents(OPERATOR) == {}  # once


async def test_a_report_k_lowered_in_the_database_runs_no_report(
    raw: Client, services: Services, http: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(services, "AT")
    admin = GraphQLClient(http, tenant.token)
    await admin.ok("mutation { setReportMinimumGroupSize(k: 10) }")
    query = (
        '{ report(datasheet: "employees", groupBy: ["department"], '
        "measures: [{op: COUNT}]) { total } }"
    )
    assert (await admin.ok(query))["report"]["total"] == 0
    db = raw[database_name(tenant.id)]
    changed = await db["settings"].update_one(
        {"minimumGroupSize": 10}, {"$set": {"minimumGroupSize": 2}}
    )
    assert changed.modified_count == 1
    assert _code(await admin(query)) == "DATA_INTEGRITY"
