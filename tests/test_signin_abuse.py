"""Sign-in against an attacker's requests: bursts, concurrency, replays, oracles and
minted tokens (issue 12, items 3, 4, 5 and 8)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import httpx
import jwt
import pyotp
from starlette.applications import Starlette

from gateway.auth.passwords import PasswordHashing
from gateway.auth.signin import MAX_FAILURES
from gateway.services import Services
from gateway.settings import Settings
from regions.routing import database_name
from schema.errors import RateLimitedError
from tests.support.client import GraphQLClient, asgi_client, make_tenant
from tests.support.raw import plain_client
from tests.support.signins import (
    PASSWORD,
    REFRESH,
    anonymous,
    login,
    new_user,
    next_code,
    with_totp,
    wrong_code,
)

READ = "{ employees(first: 1) { nodes { id } } }"


def _address() -> str:
    """A client address no other test uses (the limits count per address)."""
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


async def test_a_sign_in_burst_is_limited_and_other_tenants_are_served_meanwhile(
    limited: Starlette, services: Services
) -> None:
    burst_tenant = await make_tenant(services, "DE", "Burst Org")
    other = await make_tenant(services, "FR", "Bystander Org")
    done: list[str] = []

    async def attempt(http: httpx.AsyncClient, n: int) -> httpx.Response:
        response = await login(http, burst_tenant, f"nobody{n}@example.com")
        done.append("login")
        return response

    async def bystander(http: httpx.AsyncClient) -> httpx.Response:
        await asyncio.sleep(0)  # the burst is under way first
        response = await GraphQLClient(http, other.token).raw(READ)
        done.append("bystander")
        return response

    async with asgi_client(limited, _address()) as http:
        *burst, served = await asyncio.gather(
            *(attempt(http, n) for n in range(30)), bystander(http)
        )
    assert served.status_code == 200 and "errors" not in served.json()
    assert done.index("bystander") < len(done) - 1  # answered before the burst finished
    statuses = [r.status_code for r in burst]
    assert statuses.count(401) == 10 and statuses.count(429) == 20
    refused = next(r for r in burst if r.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    # The hashing ran in the pool's threads, never on the event loop's.
    passwords = limited.state.services.signin.passwords
    assert passwords.threads and threading.get_ident() not in passwords.threads


async def test_sign_ins_are_limited_per_tenant_whatever_the_address(
    limited: Starlette, services: Services
) -> None:
    tenant = await make_tenant(services, "DE", "Many Addresses Org")
    statuses = []
    for _ in range(3):
        async with asgi_client(limited, _address()) as http:
            for n in range(6):
                statuses.append((await login(http, tenant, f"x{n}@example.com")).status_code)
            refresh = await anonymous(http, REFRESH, {"r": f"ers_{tenant.id}_01J_x"})
            statuses.append(refresh.status_code)
    # 14 sign-ins, then 429; the refreshes (failed, but under the limit of failures) are not
    # counted with them.
    assert statuses.count(401) == 14 + 3 and statuses.count(429) == 4


async def test_hashing_is_bounded_a_burst_past_the_queue_is_refused() -> None:
    passwords = PasswordHashing(concurrency=1, queue=2)
    try:
        results = await asyncio.gather(
            *(passwords.verify(None, "whatever password", f"eu_{n}") for n in range(8)),
            return_exceptions=True,
        )
    finally:
        passwords.close()
    assert sum(isinstance(r, RateLimitedError) for r in results) == 5
    assert [r for r in results if not isinstance(r, Exception)] == [False] * 3
    assert passwords.verifications == 3


async def test_every_refusal_is_401_alike_after_one_verification(
    app: Starlette, http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "DE", "Oracle Org")
    email, locked, two_factor = [await new_user(http, tenant) for _ in range(3)]
    for n in range(5):
        assert (await login(http, tenant, locked, password=f"wrong {n} password")).status_code
    await with_totp(http, tenant, two_factor)
    verifications = app.state.services.signin.passwords
    answers = set()
    for tenant_id, who, password in (
        ("eu_01jz0000000000000000000000", email, PASSWORD),  # no such tenant
        ("not a tenant id", email, PASSWORD),
        (tenant.id, "nobody@example.com", PASSWORD),  # no such user
        (tenant.id, email, "a wrong password"),
        (tenant.id, locked, PASSWORD),  # the right password, but locked
        (tenant.id, two_factor, PASSWORD),  # the right password, no code
    ):
        before = verifications.verifications
        response = await login(http, tenant_id, who, password=password)
        assert verifications.verifications - before == 1, (tenant_id, who)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        answers.add(str(response.json()["errors"][0]))
    assert len({a.split("'locations'")[0] for a in answers}) == 1  # one answer


async def test_concurrent_failures_all_count_and_lock(
    http: httpx.AsyncClient, services: Services, settings: Settings
) -> None:
    tenant = await make_tenant(services, "DE", "Concurrent Lockout Org")
    email = await new_user(http, tenant)
    wrong = await asyncio.gather(
        *(login(http, tenant, email, password=f"wrong password {n}") for n in range(40))
    )
    assert {r.status_code for r in wrong} <= {401, 429}  # 429: the tenant's share of hashing
    assert (await login(http, tenant, email)).status_code == 401  # locked
    plain = plain_client(settings, "eu")
    try:
        failures = plain[database_name(tenant.id)]["signin_failures"]
        # Each took a slot before its password was checked: MAX_FAILURES did, the rest
        # were refused as locked (whatever their password).
        assert await failures.count_documents({}) == MAX_FAILURES
    finally:
        await plain.close()


async def test_wrong_second_factor_codes_count_too(
    http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "DE", "TOTP Lockout Org")
    email = await new_user(http, tenant)
    secret = await with_totp(http, tenant, email)
    bad = wrong_code(secret)
    wrong = await asyncio.gather(*(login(http, tenant, email, code=bad) for _ in range(10)))
    assert {r.status_code for r in wrong} == {401}
    right = await login(http, tenant, email, code=pyotp.TOTP(secret).now())
    assert right.status_code == 401  # locked


async def test_a_totp_code_is_accepted_once(http: httpx.AsyncClient, services: Services) -> None:
    tenant = await make_tenant(services, "DE", "TOTP Replay Org")
    email = await new_user(http, tenant)
    secret = await with_totp(http, tenant, email)
    code = next_code(secret)
    answers = await asyncio.gather(*(login(http, tenant, email, code=code) for _ in range(5)))
    assert sorted(r.status_code for r in answers) == [200, 401, 401, 401, 401]
    assert (await login(http, tenant, email, code=code)).status_code == 401


async def test_a_refresh_token_used_at_once_succeeds_at_most_once_and_ends_the_session(
    http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "DE", "Refresh Race Org")
    email = await new_user(http, tenant)
    session = (await login(http, tenant, email)).json()["data"]["login"]
    uses = await asyncio.gather(
        *(anonymous(http, REFRESH, {"r": session["refreshToken"]}) for _ in range(10))
    )
    won = [r.json()["data"]["refreshSession"] for r in uses if r.status_code == 200]
    assert len(won) <= 1 and sum(r.status_code == 401 for r in uses) >= 9
    # Reuse ended the session: no token of it works any more, the winner's included.
    for access in [session["accessToken"], *(w["accessToken"] for w in won)]:
        assert (await GraphQLClient(http, access).raw(READ)).status_code == 401
    for refresh in (w["refreshToken"] for w in won):
        assert (await anonymous(http, REFRESH, {"r": refresh})).status_code == 401


async def test_a_session_authenticates_only_its_own_user_and_scope(
    strict: Starlette, http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "DE", "Session Binding Org")
    victim, admin_email = await new_user(http, tenant), await new_user(http, tenant)
    other = await make_tenant(services, "DE", "Session Binding Other Org")
    outsider = await new_user(http, other)

    async def session(client: httpx.AsyncClient, tenant_id: str, email: str) -> dict[str, Any]:
        response = await login(client, tenant_id, email)
        claims: dict[str, Any] = jwt.decode(
            response.json()["data"]["login"]["accessToken"], options={"verify_signature": False}
        )
        return claims

    async with asgi_client(strict, "127.0.0.1") as client:
        own = await session(client, tenant.id, victim)
        admin = await session(client, tenant.id, admin_email)
        foreign = await session(client, other.id, outsider)
        mint = services.tokens.issue
        for forged in (
            mint(tenant.id, admin["sub"], ["admin"], sid=own["sid"]),  # another user's session
            mint(tenant.id, admin["sub"], ["admin"], sid=foreign["sid"]),  # another tenant's
            mint(tenant.id, tenant.admin_id, ["admin"], sid=admin["sid"]),
        ):
            answer = await GraphQLClient(client, forged).raw(READ)
            assert answer.status_code == 401, answer.text
        assert (
            await GraphQLClient(
                client, mint(tenant.id, admin["sub"], ["admin"], sid=admin["sid"])
            ).raw(READ)
        ).status_code == 200

        # An enrol-only session does not authenticate a token without that scope.
        await GraphQLClient(http, tenant.token).ok("mutation { requireTwoFactor(required: true) }")
        enrolling = await session(client, tenant.id, victim)
        assert enrolling["scope"] == "enroll"
        wider = mint(tenant.id, enrolling["sub"], ["admin"], sid=enrolling["sid"])
        assert (await GraphQLClient(client, wider).raw("{ me { id } }")).status_code == 401


async def test_activation_refusals_do_not_tell_whether_the_tenant_exists(
    http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "DE", "Activation Oracle Org")
    activate = (
        "mutation($t: ID!, $p: String!) { activateAccount(tenant: $t, email: "
        '"admin-DE@example.com", code: "not-a-code", password: $p) { accessToken } }'
    )
    answers: dict[str, set[str]] = {"short": set(), "long": set()}
    for tenant_id in (tenant.id, "eu_01jz0000000000000000000000", "not a tenant id"):
        for kind, password in (("short", "short"), ("long", PASSWORD)):
            response = await anonymous(http, activate, {"t": tenant_id, "p": password})
            error = response.json()["errors"][0]
            answers[kind].add(f"{response.status_code} {error['message']} {error['extensions']}")
    assert answers == {
        "short": {
            "200 a password has 12 to 256 characters "
            "{'code': 'BAD_USER_INPUT', 'field': 'password'}"
        },
        "long": {"401 invalid or expired setup code {'code': 'UNAUTHENTICATED'}"},
    }
