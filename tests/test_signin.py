"""Built-in sign-in: passwords, lock-out, TOTP, refresh with rotation, sign-out."""

from __future__ import annotations

from typing import Any

import httpx
import pyotp

from gateway.services import Services
from gateway.settings import Settings
from regions.routing import database_name
from tests.support.client import GraphQLClient, Tenant, make_tenant
from tests.support.raw import is_ciphertext, plain_client, raw_bytes
from tests.support.signins import PASSWORD, REFRESH, anonymous, login, new_user, next_code


async def _login(
    http: httpx.AsyncClient,
    tenant: Tenant,
    email: str,
    password: str = PASSWORD,
    code: str | None = None,
) -> Any:
    return (await login(http, tenant, email, password, code)).json()


async def test_sign_in_refresh_and_sign_out(
    http: httpx.AsyncClient, services: Services, settings: Settings
) -> None:
    tenant = await make_tenant(services, "DE", "Sign-in Org")
    email = await new_user(http, tenant)
    session = (await _login(http, tenant, email))["data"]["login"]
    assert session["expiresIn"] == 900 and session["scope"] is None
    me = GraphQLClient(http, session["accessToken"])
    assert (await me.ok("{ me { roles } }"))["me"]["roles"] == ["admin"]

    rotated = (await anonymous(http, REFRESH, {"r": session["refreshToken"]})).json()
    fresh = rotated["data"]["refreshSession"]
    assert fresh["refreshToken"] != session["refreshToken"]
    # The old refresh token used again: someone has a copy, the session ends.
    reused = (await anonymous(http, REFRESH, {"r": session["refreshToken"]})).json()
    assert reused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    ended = await GraphQLClient(http, fresh["accessToken"]).raw("{ me { id } }")
    assert ended.status_code == 401

    again = (await _login(http, tenant, email))["data"]["login"]
    client = GraphQLClient(http, again["accessToken"])
    assert (await client.ok("mutation { logout }"))["logout"] is True
    assert (await client.raw("{ me { id } }")).status_code == 401

    pwd = plain_client(settings, "eu")
    try:
        docs = await pwd[database_name(tenant.id)]["users"].find({}).to_list()
        doc = next(d for d in docs if d.get("passwordHash"))
        assert doc["passwordHash"].startswith("$argon2id$")
        assert PASSWORD.encode() not in raw_bytes(doc)
    finally:
        await pwd.close()


async def test_wrong_passwords_lock_out_and_look_alike(
    http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "DE", "Lockout Org")
    email = await new_user(http, tenant)
    answers = set()
    for attempt in range(5):
        body = await _login(http, tenant, email, password=f"wrong password {attempt}")
        answers.add(str(body["errors"][0]))
    unknown = await _login(http, tenant, "nobody@example.com")
    answers.add(str(unknown["errors"][0]))
    assert len({a.split("'locations'")[0] for a in answers}) == 1  # all the same answer
    locked = await _login(http, tenant, email)  # right password, but locked now
    assert locked["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_totp_and_tenants_that_require_it(
    http: httpx.AsyncClient, services: Services, settings: Settings
) -> None:
    tenant = await make_tenant(services, "DE", "TOTP Org")
    email = await new_user(http, tenant)
    admin = GraphQLClient(http, tenant.token)
    assert (await admin.ok("mutation { requireTwoFactor(required: true) }"))["requireTwoFactor"]
    limited = (await _login(http, tenant, email))["data"]["login"]
    assert limited["scope"] == "enroll"
    enrolling = GraphQLClient(http, limited["accessToken"])
    refused = await enrolling("{ employees { nodes { id } } }")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    secret = (await enrolling.ok("mutation { enrollTotp { secret uri } }"))["enrollTotp"]["secret"]
    assert await enrolling.ok(f'mutation {{ confirmTotp(code: "{pyotp.TOTP(secret).now()}") }}')
    # The right password without its code is refused like a wrong one: the password is
    # not confirmed before the second factor.
    no_code = await _login(http, tenant, email)
    wrong = await _login(http, tenant, email, password="not the password at all")
    assert no_code["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
    assert no_code["errors"][0]["message"] == wrong["errors"][0]["message"]
    full = (await _login(http, tenant, email, code=next_code(secret)))["data"]["login"]
    assert full["scope"] is None
    assert "employees" in (
        await GraphQLClient(http, full["accessToken"]).ok("{ employees { nodes { id } } }")
    )
    pwd = plain_client(settings, "eu")
    try:
        doc = await pwd[database_name(tenant.id)]["users"].find_one({"totpEnabled": True})
        assert doc is not None and is_ciphertext(doc["totpSecret"])
    finally:
        await pwd.close()


async def test_anonymous_requests_reach_only_sign_in(http: httpx.AsyncClient) -> None:
    for query in (
        "{ employees { nodes { id } } }",
        "{ me { id } }",
        'mutation { login(tenant: "x", email: "a", password: "b") { accessToken } '
        'deleteEmployee(id: "x", expectedVersion: 1) { id } }',
        'mutation { activateAccount(tenant: "x", email: "a", code: "c", password: "p") '
        '{ accessToken } createApiKey(name: "k", role: "admin") { key } }',
    ):
        assert (await anonymous(http, query, {})).status_code == 401


async def test_a_stolen_token_cannot_remove_the_second_factor_or_outlive_a_new_password(
    http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "DE", "Stolen Org")
    email = await new_user(http, tenant)
    first = (await _login(http, tenant, email))["data"]["login"]
    me = GraphQLClient(http, first["accessToken"])
    secret = (await me.ok("mutation { enrollTotp { secret } }"))["enrollTotp"]["secret"]
    await me.ok(f'mutation {{ confirmTotp(code: "{pyotp.TOTP(secret).now()}") }}')
    replaced = await me("mutation { enrollTotp { secret } }")
    assert replaced["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    still = await _login(http, tenant, email)
    assert still["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}

    other = (await _login(http, tenant, email, code=next_code(secret)))["data"]["login"]
    changed = await me.ok(
        'mutation($c: String!) { changePassword(current: $c, new: "another long passphrase") }',
        {"c": PASSWORD},
    )
    assert changed["changePassword"] is True
    assert (await GraphQLClient(http, other["accessToken"]).raw("{ me { id } }")).status_code == 401
    stale = (await anonymous(http, REFRESH, {"r": other["refreshToken"]})).json()
    assert stale["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await me.raw("{ me { id } }")).status_code == 200  # the session that changed it

    admin = GraphQLClient(http, tenant.token)
    users = (await admin.ok("{ users { id } }"))["users"]
    user_id = next(u["id"] for u in users if u["id"] != tenant.admin_id)
    await admin.ok(
        'mutation($id: ID!) { setUserPassword(id: $id, password: "reset by the admin!") }',
        {"id": user_id},
    )
    assert (await me.raw("{ me { id } }")).status_code == 401  # a reset ends every session


async def test_refresh_answers_alike_whatever_is_wrong(http: httpx.AsyncClient) -> None:
    answers = set()
    for token in (
        "ers_a_b_c_d",
        "ers_zz_01M81KTK58R9JDRYNZ7F3HPA00_x_y",
        "ers_eu_01m81ktk24z6hd50cy4acs6m2j_nosuch_x",
        "nonsense",
    ):
        body = (await anonymous(http, REFRESH, {"r": token})).json()
        answers.add(body["errors"][0]["message"])
    assert len(answers) == 1
