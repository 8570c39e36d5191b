"""Sign-in against the gaps a security review found in it (issue 12's review): bursts
past the lock-out, guesses outside ``login``, odd codes, API keys driving the hashing
pool, ending someone's session by its id, and the public endpoint's one field."""

from __future__ import annotations

import asyncio

import httpx
import jwt
from starlette.applications import Starlette

from gateway.services import Services
from gateway.settings import Settings
from gateway.signin import MAX_FAILURES
from regions.routing import database_name
from tests.conftest import GraphQLClient, Tenant, make_tenant
from tests.raw import plain_client
from tests.roles import make_role
from tests.signins import (
    PASSWORD,
    REFRESH,
    anonymous,
    login,
    new_user,
    next_code,
    with_totp,
    wrong_code,
)
from tests.test_api_keys import CREATE
from tests.test_signin_abuse import _client, limited, strict  # noqa: F401 (fixtures)

READ = "{ employees(first: 1) { nodes { id } } }"


async def _attempts(settings: Settings, tenant: Tenant) -> int:
    """The attempt slots taken in *tenant* (read from its database directly)."""
    plain = plain_client(settings, "eu")
    try:
        return await plain[database_name(tenant.id)]["signin_failures"].count_documents({})
    finally:
        await plain.close()


CHANGE = 'mutation($c: String!) { changePassword(current: $c, new: "another long passphrase") }'


async def test_the_right_password_inside_a_burst_is_refused(
    app: Starlette, http: httpx.AsyncClient, services: Services, settings: Settings
) -> None:
    tenant = await make_tenant(services, "DE", "Burst Guess Org")
    email = await new_user(http, tenant)
    guesses = [f"wrong password {n}" for n in range(39)] + [PASSWORD]
    answers = await asyncio.gather(*(login(http, tenant, email, password=p) for p in guesses))
    assert {r.status_code for r in answers} == {401}  # the right one too: past the lock
    assert (await login(http, tenant, email)).status_code == 401  # and it stays locked
    assert await _attempts(settings, tenant) == MAX_FAILURES  # attempts that counted


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
    key = (await admin.ok(CREATE, {"role": "etl"}))["createApiKey"]["key"]
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
    strict: Starlette,  # noqa: F811 (the fixture)
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
    limited: Starlette,  # noqa: F811 (the fixture)
    services: Services,
) -> None:
    tenant = await make_tenant(services, "DE", "Refresh Flood Org")
    statuses = []
    for n in range(3):
        async with _client(limited, f"10.77.{n}.1") as http:
            for _ in range(7):
                refresh = await anonymous(http, REFRESH, {"r": f"ers_{tenant.id}_01J_x"})
                statuses.append(refresh.status_code)
    # Failed refreshes count per tenant (14), each address (10) is under its limit.
    assert statuses.count(401) == 14 and statuses.count(429) == 7
    async with _client(limited, "10.77.9.1") as http:
        assert (await login(http, tenant, "someone@example.com")).status_code == 401


async def test_an_ipv6_client_counts_by_its_64(
    limited: Starlette,  # noqa: F811 (the fixture)
    services: Services,
) -> None:
    tenant = await make_tenant(services, "DE", "IPv6 Org")
    statuses = []
    for host in range(11):  # 11 hosts of one /64, over the limit of 10 per address
        async with _client(limited, f"2001:db8:77:1::{host + 1:x}") as http:
            statuses.append((await login(http, tenant, "x@example.com")).status_code)
    assert statuses == [401] * 10 + [429]
