"""Sign-in helpers for the tests: users with passwords, anonymous requests, TOTP set-up."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pyotp

from tests.support.client import GraphQLClient, Tenant

LOGIN = """mutation($t: ID!, $e: String!, $p: String!, $c: String) {
  login(tenant: $t, email: $e, password: $p, code: $c) {
    accessToken refreshToken expiresIn scope } }"""
REFRESH = (
    """mutation($r: String!) { refreshSession(refreshToken: $r) { accessToken refreshToken } }"""
)
PASSWORD = "correct horse battery staple"
ACTIVATE = """mutation($t: ID!, $e: String!, $c: String!, $p: String!) {
  activateAccount(tenant: $t, email: $e, code: $c, password: $p) {
    accessToken refreshToken expiresIn } }"""
#: The password a first admin sets with a setup code (``activate``).
SETUP_PASSWORD = "a long enough first password"


async def anonymous(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any]
) -> httpx.Response:
    return await http.post("/graphql", json={"query": query, "variables": variables})


async def new_user(http: httpx.AsyncClient, tenant: Tenant) -> str:
    """An admin of *tenant* with ``PASSWORD``, made by its first admin; their email."""
    email = f"u{uuid.uuid4().hex[:8]}@example.com"
    await GraphQLClient(http, tenant.token).ok(
        'mutation($e: String!, $p: String) { createUser(email: $e, roles: ["admin"], '
        "password: $p) { id } }",
        {"e": email, "p": PASSWORD},
    )
    return email


async def login(
    http: httpx.AsyncClient,
    tenant: Tenant | str,
    email: str,
    password: str = PASSWORD,
    code: str | None = None,
) -> httpx.Response:
    tenant_id = tenant if isinstance(tenant, str) else tenant.id
    return await anonymous(http, LOGIN, {"t": tenant_id, "e": email, "p": password, "c": code})


async def with_totp(http: httpx.AsyncClient, tenant: Tenant, email: str) -> str:
    """Enrol and confirm a second factor for *email*; its secret."""
    session = (await login(http, tenant, email)).json()["data"]["login"]
    me = GraphQLClient(http, session["accessToken"])
    secret: str = (await me.ok("mutation { enrollTotp { secret } }"))["enrollTotp"]["secret"]
    await me.ok(f'mutation {{ confirmTotp(code: "{pyotp.TOTP(secret).now()}") }}')
    return secret


def next_code(secret: str) -> str:
    """The code of the next time step (accepted for clock drift): the current step's code
    was used to confirm the second factor, and a step is used once."""
    return pyotp.TOTP(secret).at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30))


def wrong_code(secret: str) -> str:
    """A six-digit code that is none of the codes accepted now."""
    totp = pyotp.TOTP(secret)
    step = totp.timecode(dt.datetime.now(dt.UTC))
    valid = {totp.generate_otp(s) for s in (step - 2, step - 1, step, step + 1, step + 2)}
    return next(c for c in (f"{n:06d}" for n in range(1, 10)) if c not in valid)


async def activate(
    http: httpx.AsyncClient, tenant: str, email: str, code: str, password: str = SETUP_PASSWORD
) -> Any:
    """``activateAccount`` with a setup code; the response body."""
    variables = {"t": tenant, "e": email, "c": code, "p": password}
    return (await http.post("/graphql", json={"query": ACTIVATE, "variables": variables})).json()


def refused(body: Any) -> str:
    """The code of a refused setup code, checking that the refusal says nothing about why."""
    error = body["errors"][0]
    assert error["message"] == "invalid or expired setup code", body
    assert body.get("data") is None
    return str(error["extensions"]["code"])
