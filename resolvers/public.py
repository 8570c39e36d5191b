"""The operations anyone may call without a token: sign in, refresh a session, and set a
first password with a one-time setup code.

Served by a schema of their own, so an anonymous request can reach nothing else. In cookie
mode (``gateway.auth.sessioncookie``) the refresh token travels in an HttpOnly cookie instead
of the answer.

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

from dataclasses import dataclass
from typing import Any, Protocol

import strawberry
from strawberry.types import Info

from resolvers.docshape import ShapeLimiter
from resolvers.errors import ErrorCodes
from resolvers.limits import Limits
from resolvers.schema import EnclaveSchema
from resolvers.telemetry import OperationTelemetry
from schema.accounts import Session
from schema.errors import UnauthenticatedError

__all__ = ["PUBLIC_FIELDS", "CookiePort", "PublicContext", "SignInPort", "build_public_schema"]

PUBLIC_FIELDS = frozenset({"login", "refreshSession", "activateAccount", "__typename"})


class SignInPort(Protocol):
    async def login(self, tenant_id: str, email: str, password: str, code: str | None) -> Any: ...

    async def refresh(self, refresh_token: str) -> Any: ...

    async def activate(
        self, tenant_id: str, email: str, code: str, password: str, two_factor: str | None
    ) -> Any: ...


class CookiePort(Protocol):
    """Cookie mode of one request: the refresh token it came with, the one it issues."""

    sent: str | None
    refused: bool

    def issue(self, refresh_token: str) -> None: ...


@dataclass(frozen=True)
class PublicContext:
    signin: SignInPort
    client_ip: str | None
    user_agent: str | None
    cookie: CookiePort | None = None


def _session(tokens: Any, cookie: CookiePort | None) -> Session:
    """The answer; in cookie mode the refresh token goes into the cookie, not the answer."""
    if cookie is not None:
        cookie.issue(tokens.refresh)
    return Session(
        access_token=tokens.access,
        refresh_token="" if cookie is not None else tokens.refresh,
        expires_in=tokens.expires_in,
        scope=tokens.scope,
    )


@strawberry.type
class PublicQuery:
    @strawberry.field(description="Sign in with the `login` mutation.")
    def ok(self) -> bool:
        return True


@strawberry.type
class PublicMutation:
    @strawberry.mutation(
        description="Sign in with email and password (and a TOTP code once "
        "enrolled). Repeated failures lock the account for a while."
    )
    async def login(
        self,
        info: Info,
        tenant: strawberry.ID,
        email: str,
        password: str,
        code: str | None = None,
    ) -> Session:
        ctx: PublicContext = info.context
        tokens = await ctx.signin.login(str(tenant), email, password, code)
        return _session(tokens, ctx.cookie)

    @strawberry.mutation(
        description="Set your password with the one-time setup code an operator gave you "
        "(it works once, until it expires), and sign in. A code that is wrong, expired or "
        "used already is refused alike."
    )
    async def activate_account(
        self,
        info: Info,
        tenant: strawberry.ID,
        email: str,
        code: str,
        password: str,
        two_factor_code: str | None = None,
    ) -> Session:
        ctx: PublicContext = info.context
        tokens = await ctx.signin.activate(str(tenant), email, code, password, two_factor_code)
        return _session(tokens, ctx.cookie)

    @strawberry.mutation(
        description="A new access token; the refresh token is rotated. Leave `refreshToken` "
        "out in cookie mode (header `X-Enclave-Session: cookie`) to use the session cookie."
    )
    async def refresh_session(self, info: Info, refresh_token: str | None = None) -> Session:
        ctx: PublicContext = info.context
        cookie = ctx.cookie
        token = refresh_token if refresh_token is not None else (cookie and cookie.sent)
        try:
            tokens = await ctx.signin.refresh(token or "")
        except UnauthenticatedError:
            if cookie is not None:
                cookie.refused = True
            raise
        return _session(tokens, cookie)


def build_public_schema(limits: Limits | None = None) -> EnclaveSchema:
    from strawberry.extensions import MaxTokensLimiter
    from strawberry.schema.config import StrawberryConfig

    limits = limits or Limits()

    return EnclaveSchema(
        query=PublicQuery,
        mutation=PublicMutation,
        config=StrawberryConfig(disable_field_suggestions=True),
        extensions=[
            OperationTelemetry,
            ErrorCodes,
            # The same document limits as signed-in requests (aliases would repeat sign-ins).
            lambda: ShapeLimiter(
                limits.max_depth, limits.max_aliases, limits.max_selections, limits.max_merges
            ),
            lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        ],
    )
