"""What an admin sees of a user's sign-in: whether a second factor is set up, and the
sessions open now (no secret of them), through the public API only."""

from __future__ import annotations

import httpx
from ulid import ULID

from gateway.services import Services
from tests.support.client import GraphQLClient, make_tenant
from tests.support.roles import make_role, make_user
from tests.support.signins import login, new_user, next_code, with_totp

USERS = "{ users { id email twoFactorEnabled } }"
SESSIONS = """query($u: ID!) {
  userSessions(userId: $u) { id openedAt expiresAt twoFactor } }"""


async def test_an_admin_sees_two_factor_status_and_open_sessions(
    http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "DE", "Sessions Org")
    admin = GraphQLClient(http, tenant.token)
    with_2fa, without = await new_user(http, tenant), await new_user(http, tenant)
    secret = await with_totp(http, tenant, with_2fa)  # (signs in once, without a code)
    signed_in = (await login(http, tenant, with_2fa, code=next_code(secret))).json()
    token = signed_in["data"]["login"]["accessToken"]
    await login(http, tenant, without)

    users = {u["email"]: u for u in (await admin.ok(USERS))["users"]}
    assert users[with_2fa]["twoFactorEnabled"] is True
    assert users[without]["twoFactorEnabled"] is False

    listed = (await admin.ok(SESSIONS, {"u": users[with_2fa]["id"]}))["userSessions"]
    assert [s["twoFactor"] for s in listed] == [True, False]  # newest first
    assert all(s["openedAt"] < s["expiresAt"] for s in listed)
    assert (await admin.ok(SESSIONS, {"u": users[without]["id"]}))["userSessions"] != []

    # Signed out: that session is no longer listed.
    assert (await GraphQLClient(http, token).ok("mutation { logout }"))["logout"] is True
    after = (await admin.ok(SESSIONS, {"u": users[with_2fa]["id"]}))["userSessions"]
    assert [s["id"] for s in after] == [listed[1]["id"]]


async def test_only_admins_list_sessions_and_only_of_their_tenants_users(
    http: httpx.AsyncClient, services: Services
) -> None:
    tenant, other = await make_tenant(services, "DE"), await make_tenant(services, "FR")
    admin = GraphQLClient(http, tenant.token)
    theirs = (await GraphQLClient(http, other.token).ok(USERS))["users"][0]["id"]
    for user_id in (theirs, str(ULID())):  # another tenant's user is no user of this one
        body = (await admin.raw(SESSIONS, {"u": user_id})).json()
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        assert user_id not in str(body["errors"])
    await make_role(admin, "reader", read=["lastName"])
    reader, user = await make_user(admin, services, tenant, "reader@example.com", ["reader"])
    for query, variables in ((SESSIONS, {"u": user["id"]}), (USERS, None)):
        body = (await reader.raw(query, variables)).json()
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
