"""One-time setup codes: a tenant's first admin sets a password with ``activateAccount``."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx

from gateway.cli.tenants import issue_setup_code
from gateway.services import Services
from gateway.settings import Settings
from regions.routing import database_name
from storage.values import OPERATOR
from tests.support.client import GraphQLClient, Tenant
from tests.support.raw import plain_client, raw_bytes
from tests.support.signins import SETUP_PASSWORD, activate, refused

LOGIN = """mutation($t: ID!, $e: String!, $p: String!) {
  login(tenant: $t, email: $e, password: $p) { accessToken } }"""
LOG = """query($r: ID) { auditLog(first: 20, filter: {record: $r}) {
  nodes { operation outcome code actorKind actorId ip } } }"""
PASSWORD = SETUP_PASSWORD


async def login(http: httpx.AsyncClient, tenant: str, email: str, password: str) -> Any:
    variables = {"t": tenant, "e": email, "p": password}
    return (await http.post("/graphql", json={"query": LOGIN, "variables": variables})).json()


async def _tenant(services: Services, country: str) -> tuple[Tenant, str]:
    email = f"first-admin-{country.lower()}@example.com"
    info, admin = await services.store.create_tenant("Setup Org", country, email)
    return Tenant(info.id, admin.id, services.tokens.issue(info.id, admin.id, ["admin"])), email


async def test_a_code_activates_once_and_is_audited(
    http: httpx.AsyncClient, services: Services, settings: Settings
) -> None:
    tenant, email = await _tenant(services, "FR")
    code = (await issue_setup_code(services, tenant.id, tenant.admin_id))["setupCode"]

    first = await activate(http, tenant.id, email.upper(), code)
    assert "errors" not in first, first
    session = first["data"]["activateAccount"]
    me = GraphQLClient(http, session["accessToken"])
    assert (await me.ok("{ me { id roles } }"))["me"] == {"id": tenant.admin_id, "roles": ["admin"]}
    assert "errors" not in await login(http, tenant.id, email, PASSWORD)

    # Used once: the same code again (even with another password) is refused.
    second = await activate(http, tenant.id, email, code, "another password 123")
    assert refused(second) == "UNAUTHENTICATED"
    assert "errors" not in await login(http, tenant.id, email, PASSWORD)  # still the first

    nodes = (await me.ok(LOG, {"r": tenant.admin_id}))["auditLog"]["nodes"]
    ops = [(n["operation"], n["actorKind"], n["outcome"]) for n in nodes]
    assert ops[:3] == [
        ("update", "user", "committed"),  # the password hash
        ("setup_code_used", "user", "committed"),
        ("setup_code", "operator", "committed"),
    ]
    assert nodes[1]["ip"] == "127.0.0.1"  # where the code was used from

    client = plain_client(settings, "eu")
    try:
        db = client[database_name(tenant.id)]
        for coll in ("audit", "audit_values", "setup_codes", "users"):
            async for doc in db[coll].find({}):
                assert code.encode() not in raw_bytes(doc), coll
                assert PASSWORD.encode() not in raw_bytes(doc), coll
    finally:
        await client.close()


async def test_wrong_expired_and_other_users_codes_are_refused_alike(
    http: httpx.AsyncClient, services: Services
) -> None:
    tenant, email = await _tenant(services, "BE")
    codes = services.store.for_tenant(tenant.id).setup_codes
    expired, _ = await codes.issue(tenant.admin_id, dt.timedelta(0), OPERATOR)
    admin = GraphQLClient(http, tenant.token)
    other = await admin.ok('mutation { createUser(email: "o@example.com", roles: []) { id } }')
    others, _ = await codes.issue(other["createUser"]["id"], dt.timedelta(hours=1), OPERATOR)
    for tenant_id, mail, code in (
        (tenant.id, email, expired),
        (tenant.id, email, others),
        (tenant.id, email, "not-a-code"),
        (tenant.id, "nobody@example.com", others),
        ("eu_01HZZZZZZZZZZZZZZZZZZZZZZZ", email, expired),
    ):
        assert refused(await activate(http, tenant_id, mail, code)) == "UNAUTHENTICATED"
    # While the admin has a code on file, refusals are audited (field names only).
    nodes = (await admin.ok(LOG, {"r": tenant.admin_id}))["auditLog"]["nodes"]
    tried = [n for n in nodes if n["operation"] == "activateAccount"]
    assert len(tried) == 3
    assert all(n["outcome"] == "refused" and n["code"] == "UNAUTHENTICATED" for n in tried)
    # The other user's code is still theirs to use.
    assert "errors" not in await activate(http, tenant.id, "o@example.com", others)


async def test_a_bad_password_spends_no_code_and_a_new_code_replaces_the_old(
    http: httpx.AsyncClient, services: Services
) -> None:
    tenant, email = await _tenant(services, "NL")
    old = (await issue_setup_code(services, tenant.id, tenant.admin_id))["setupCode"]
    short = await activate(http, tenant.id, email, old, "short")
    assert short["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    new = (await issue_setup_code(services, tenant.id, tenant.admin_id))["setupCode"]
    assert refused(await activate(http, tenant.id, email, old)) == "UNAUTHENTICATED"
    assert "errors" not in await activate(http, tenant.id, email, new)


async def test_of_concurrent_uses_exactly_one_gets_in(
    http: httpx.AsyncClient, services: Services
) -> None:
    tenant, email = await _tenant(services, "AT")
    code = (await issue_setup_code(services, tenant.id, tenant.admin_id))["setupCode"]
    answers = await asyncio.gather(
        *(activate(http, tenant.id, email, code, f"password number {i:02}") for i in range(6))
    )
    winners = [i for i, a in enumerate(answers) if "errors" not in a]
    assert len(winners) == 1
    assert all(refused(a) == "UNAUTHENTICATED" for a in answers if "errors" in a)
    # The winner's password is the one that holds.
    password = f"password number {winners[0]:02}"
    assert "errors" not in await login(http, tenant.id, email, password)
