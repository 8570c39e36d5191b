"""Sign-in against the gaps a security review found in it (issue 12's review): bursts
past the lock-out, guesses outside ``login``, odd codes, API keys driving the hashing
pool, ending someone's session by its id, and the public endpoint's one field."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from typing import Any

import httpx
import jwt
import pytest
from argon2 import PasswordHasher
from starlette.applications import Starlette
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from gateway.app import create_app
from gateway.auth.passwords import PasswordHashing
from gateway.auth.signin import LOCKOUT, MAX_FAILURES
from gateway.cli.serve import proxy_options
from gateway.services import Services
from gateway.settings import Settings
from regions.routing import database_name
from schema.errors import RateLimitedError
from tests.support.client import GraphQLClient, Tenant, asgi_client, make_tenant
from tests.support.raw import plain_client
from tests.support.roles import CREATE_API_KEY, make_role
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


async def _attempts(settings: Settings, tenant: Tenant) -> int:
    """The attempt slots taken in *tenant* (read from its database directly)."""
    plain = plain_client(settings, "eu")
    try:
        return await plain[database_name(tenant.id)]["signin_failures"].count_documents({})
    finally:
        await plain.close()


CHANGE = 'mutation($c: String!) { changePassword(current: $c, new: "another long passphrase") }'


async def test_a_burst_of_guesses_gets_the_attempts_of_the_lock_out_and_no_more(
    app: Starlette, http: httpx.AsyncClient, services: Services, settings: Settings
) -> None:
    tenant = await make_tenant(services, "DE", "Burst Guess Org")
    email = await new_user(http, tenant)
    guesses = [f"wrong password {n}" for n in range(39)]
    answers = await asyncio.gather(*(login(http, tenant, email, password=p) for p in guesses))
    # Refused: wrong (401), past the lock (401) or past this tenant's share of the hashing
    # pool (429); of 39 at once, only MAX_FAILURES counted, none more. (Which of a burst's
    # requests get the attempts is not fixed: concurrent requests reserve in no set order.)
    assert {r.status_code for r in answers} <= {401, 429}
    assert await _attempts(settings, tenant) == MAX_FAILURES
    assert (await login(http, tenant, email)).status_code == 401  # the right one: locked


async def test_a_code_that_is_not_six_ascii_digits_is_a_wrong_code(
    http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "DE", "Odd Code Org")
    email = await new_user(http, tenant)
    await with_totp(http, tenant, email)
    for code in ("12345\u00e9", "\uff11\uff12\uff13\uff14\uff15\uff16", "1234567"):
        for password in ("a wrong password!", PASSWORD):
            answer = await login(http, tenant, email, password=password, code=code)
            assert answer.status_code == 401, (code, password)
            assert answer.json()["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}


async def test_change_password_guesses_count_toward_the_lock_out(
    http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "DE", "Change Guess Org")
    email = await new_user(http, tenant)
    me = GraphQLClient(
        http, (await login(http, tenant, email)).json()["data"]["login"]["accessToken"]
    )
    for n in range(MAX_FAILURES):
        wrong = await me(CHANGE, {"c": f"guess {n} of the password"})
        assert wrong["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # Locked: the right current password is refused alike, and so is signing in.
    right = await me(CHANGE, {"c": PASSWORD})
    assert right["errors"][0]["message"] == wrong["errors"][0]["message"]
    assert (await login(http, tenant, email)).status_code == 401


async def test_enroll_code_guesses_count_toward_the_lock_out(
    http: httpx.AsyncClient, services: Services, settings: Settings
) -> None:
    tenant = await make_tenant(services, "DE", "Enroll Guess Org")
    email = await new_user(http, tenant)
    secret = await with_totp(http, tenant, email)
    session = (await login(http, tenant, email, code=next_code(secret))).json()["data"]["login"]
    me = GraphQLClient(http, session["accessToken"])
    enroll = "mutation($c: String) { enrollTotp(code: $c) { secret } }"
    for _ in range(MAX_FAILURES):
        wrong = await me(enroll, {"c": wrong_code(secret)})
        assert wrong["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await _attempts(settings, tenant) == MAX_FAILURES  # each guess counted
    assert (await login(http, tenant, email, code=next_code(secret))).status_code == 401


async def test_the_confirming_code_is_not_accepted_again_at_sign_in(
    http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "DE", "Confirm Replay Org")
    email = await new_user(http, tenant)
    session = (await login(http, tenant, email)).json()["data"]["login"]
    me = GraphQLClient(http, session["accessToken"])
    secret = (await me.ok("mutation { enrollTotp { secret } }"))["enrollTotp"]["secret"]
    code = next_code(secret)
    await me.ok(f'mutation {{ confirmTotp(code: "{code}") }}')
    assert (await login(http, tenant, email, code=code)).status_code == 401


async def test_api_keys_cannot_drive_password_hashing(
    app: Starlette, http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "DE", "Key Hash Org")
    admin = GraphQLClient(http, tenant.token)
    await make_role(admin, "etl", read=["firstName"])
    key = (await admin.ok(CREATE_API_KEY, {"role": "etl"}))["createApiKey"]["key"]
    hashing = app.state.services.signin.passwords
    before = hashing.verifications
    for query in (
        'mutation { changePassword(current: "whatever whatever", new: "whatever whatever") }',
        'mutation { enrollTotp(code: "123456") { secret } }',
        'mutation { confirmTotp(code: "123456") }',
    ):
        answer = await http.post("/graphql", headers={"x-api-key": key}, json={"query": query})
        assert answer.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN", query
    assert hashing.verifications == before


async def test_a_wrong_secret_does_not_end_someone_elses_session(
    strict: Starlette,
    http: httpx.AsyncClient,
    services: Services,
) -> None:
    tenant = await make_tenant(services, "DE", "Sid Kill Org")
    email = await new_user(http, tenant)
    transport = httpx.ASGITransport(app=strict)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as checked:
        session = (await login(checked, tenant, email)).json()["data"]["login"]
        sid = jwt.decode(session["accessToken"], options={"verify_signature": False})["sid"]
        garbage = await anonymous(checked, REFRESH, {"r": f"ers_{tenant.id}_{sid}_garbage"})
        assert garbage.status_code == 401
        assert (await GraphQLClient(checked, session["accessToken"]).raw(READ)).status_code == 200
        fresh = await anonymous(checked, REFRESH, {"r": session["refreshToken"]})
        assert fresh.status_code == 200
        # A retired secret (used once already) still ends the session: someone has a copy.
        reused = await anonymous(checked, REFRESH, {"r": session["refreshToken"]})
        assert reused.status_code == 401
        token = fresh.json()["data"]["refreshSession"]["accessToken"]
        assert (await GraphQLClient(checked, token).raw(READ)).status_code == 401


async def test_the_public_endpoint_takes_one_sign_in_per_request(
    app: Starlette, http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "DE", "Alias Org")
    email = await new_user(http, tenant)
    hashing = app.state.services.signin.passwords
    before = hashing.verifications
    fields = " ".join(
        f'a{n}: login(tenant: "{tenant.id}", email: "{email}", password: "guess {n} guess")'
        " { accessToken }"
        for n in range(3)
    )
    answer = await http.post("/graphql", json={"query": f"mutation {{ {fields} }}"})
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert hashing.verifications == before  # nothing was verified


async def test_refreshes_do_not_use_up_a_tenants_sign_ins(
    limited: Starlette,
    services: Services,
) -> None:
    tenant = await make_tenant(services, "DE", "Refresh Flood Org")
    statuses = []
    for n in range(3):
        async with asgi_client(limited, f"10.77.{n}.1") as http:
            for _ in range(7):
                refresh = await anonymous(http, REFRESH, {"r": f"ers_{tenant.id}_01J_x"})
                statuses.append(refresh.status_code)
    # Failed refreshes count per tenant (14), each address (10) is under its limit.
    assert statuses.count(401) == 14 and statuses.count(429) == 7
    async with asgi_client(limited, "10.77.9.1") as http:
        assert (await login(http, tenant, "someone@example.com")).status_code == 401


async def test_an_ipv6_client_counts_by_its_64(
    limited: Starlette,
    services: Services,
) -> None:
    tenant = await make_tenant(services, "DE", "IPv6 Org")
    statuses = []
    for host in range(11):  # 11 hosts of one /64, over the limit of 10 per address
        async with asgi_client(limited, f"2001:db8:77:1::{host + 1:x}") as http:
            statuses.append((await login(http, tenant, "x@example.com")).status_code)
    assert statuses == [401] * 10 + [429]


async def test_one_or_two_tenants_cannot_take_the_whole_hashing_pool() -> None:
    passwords = PasswordHashing(concurrency=1, queue=7)  # 8 places, 2 per tenant
    try:
        burst = [passwords.verify(None, "whatever password", t) for t in ["a"] * 8 + ["b"] * 8]
        results = await asyncio.gather(
            *burst, passwords.verify(None, "whatever password", "c"), return_exceptions=True
        )
    finally:
        passwords.close()
    assert sum(isinstance(r, RateLimitedError) for r in results) == 12
    assert results[-1] is False  # the third tenant's sign-in was served


async def test_a_user_is_created_only_once_the_password_is_hashed(
    settings: Settings, services: Services
) -> None:
    app = create_app(
        settings.model_copy(update={"password_hash_threads": 1, "password_hash_queue": 0}),
        background=False,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            tenant = await make_tenant(services, "DE", "Busy Pool Org")
            admin = GraphQLClient(http, tenant.token)
            hashing = app.state.services.signin.passwords
            release = threading.Event()
            busy = asyncio.ensure_future(hashing._run(tenant.id, release.wait, 30))
            await asyncio.sleep(0)  # the pool's one place is taken
            try:
                answer = await admin.raw(
                    'mutation($p: String) { createUser(email: "busy@example.com", '
                    'roles: ["admin"], password: $p) { id } }',
                    {"p": PASSWORD},
                )
            finally:
                release.set()
                await busy
            assert answer.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
            users = (await admin.ok("{ users { email } }"))["users"]
            assert "busy@example.com" not in {u["email"] for u in users}


async def test_new_password_hashes_take_one_thread() -> None:
    hashing = PasswordHashing(1, 0)
    try:
        new = await hashing.hash(PASSWORD, "eu_x")
        assert "p=1" in new  # one lane: one OS thread while hashed or verified
        # A hash made before, with argon2-cffi's default four lanes, is still verified.
        old = PasswordHasher().hash(PASSWORD)
        assert "p=4" in old
        assert await hashing.verify(old, PASSWORD, "eu_x") is True
        assert await hashing.verify(new, PASSWORD, "eu_x") is True
    finally:
        hashing.close()


async def test_behind_a_trusted_proxy_each_client_counts_by_its_own_address(
    limited: Starlette,
    settings: Settings,
    services: Services,
) -> None:
    with pytest.raises(ValueError, match="never"):
        settings.model_validate(settings.model_dump() | {"forwarded_allow_ips": ["*"]})
    for proxies, expected in (([], [401] * 10 + [429]), (["10.98.0.0/16"], [401] * 11)):
        tenant = await make_tenant(services, "DE", f"Proxied Org {len(proxies)}")
        options = proxy_options(settings.model_copy(update={"forwarded_allow_ips": proxies}))
        app: Any = limited
        if options["proxy_headers"]:
            app = ProxyHeadersMiddleware(app, trusted_hosts=options["forwarded_allow_ips"])
        proxy = f"10.98.{len(proxies)}.1"  # the load balancer's address
        transport = httpx.ASGITransport(app=app, client=(proxy, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            statuses = []
            for n in range(11):  # 11 clients behind it, over the limit of 10 per address
                http.headers["x-forwarded-for"] = f"198.51.{len(proxies)}.{n + 1}"
                statuses.append((await login(http, tenant, "x@example.com")).status_code)
        assert statuses == expected, proxies


async def test_an_unknown_email_takes_a_slot_like_a_known_one(
    http: httpx.AsyncClient, services: Services, settings: Settings
) -> None:
    tenant = await make_tenant(services, "DE", "Same Work Org")
    known = await new_user(http, tenant)
    for n, who in enumerate(("nobody@example.com", known), start=1):
        assert (await login(http, tenant, who, password="a wrong password")).status_code == 401
        assert await _attempts(settings, tenant) == n  # one insert each, found by _id


async def test_old_sign_in_bookkeeping_is_pruned_and_indexed(
    services: Services, settings: Settings
) -> None:
    tenant = await make_tenant(services, "DE", "Prune Org")
    now = dt.datetime.now(dt.UTC)
    old, older = now - dt.timedelta(days=2), now - dt.timedelta(days=40)
    plain = plain_client(settings, "eu")
    try:
        db = plain[database_name(tenant.id)]
        await db["signin_failures"].insert_many(
            [{"_id": "u/0", "at": old}, {"_id": "v/0", "at": now}]
        )
        await db["totp_steps"].insert_many([{"_id": "u/1", "at": old}, {"_id": "v/1", "at": now}])
        await db["sessions"].insert_many(
            [
                {"_id": "s1", "user": "u", "expiresAt": old},
                {"_id": "s2", "user": "v", "expiresAt": now + dt.timedelta(days=1)},
            ]
        )
        await db["session_claims"].insert_many(
            [{"_id": "s1/x", "at": older}, {"_id": "s2/y", "at": now}]
        )
        assert await services.prune_signins() >= 4
        for coll, kept in (
            ("signin_failures", "v/0"),
            ("totp_steps", "v/1"),
            ("sessions", "s2"),
            ("session_claims", "s2/y"),
        ):
            assert [d["_id"] async for d in db[coll].find({}, {"_id": 1})] == [kept], coll
        assert "user_1" in await db["sessions"].index_information()
    finally:
        await plain.close()


async def test_a_lock_ends_when_its_oldest_attempt_is_old_enough(
    http: httpx.AsyncClient, services: Services, settings: Settings
) -> None:
    tenant = await make_tenant(services, "DE", "Lock Expiry Org")
    email = await new_user(http, tenant)
    for n in range(MAX_FAILURES):
        assert (await login(http, tenant, email, password=f"wrong {n} password")).status_code == 401
    assert (await login(http, tenant, email)).status_code == 401  # locked
    plain = plain_client(settings, "eu")
    try:
        failures = plain[database_name(tenant.id)]["signin_failures"]
        first = await failures.find_one({}, sort=[("at", 1)])
        assert first is not None
        old = dt.datetime.now(dt.UTC) - LOCKOUT - dt.timedelta(seconds=1)
        await failures.update_one({"_id": first["_id"]}, {"$set": {"at": old}})
    finally:
        await plain.close()
    assert (await login(http, tenant, email)).status_code == 200  # its slot is free again
    assert await _attempts(settings, tenant) == 0  # and a success frees them all
