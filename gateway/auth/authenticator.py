"""A request's credentials to a :class:`~resolvers.context.Principal`.

An ``X-Api-Key`` header, or an ``Authorization: Bearer`` token that is an API key, the
gateway's own token (HS256, its sign-in session still open) or, when one is configured, an
external identity provider's (RS256/ES256). Then the tenant must be active. Anything wrong is
the same ``UNAUTHENTICATED``.

The first request of a tenant this process has not seen (or not lately) checks the tenant's
control record while *prefetch* loads what the request needs next (its policy, its
allow-list mode): concurrently, not one after the other. Nothing fetched is used before
the checks that need it have passed; a prefetch that fails is redone, and fails, in place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import jwt
from starlette.datastructures import Headers

from gateway.auth.apikeys import ApiKeys, is_api_key
from gateway.auth.jwks import ALGORITHMS as EXTERNAL_ALGORITHMS
from gateway.auth.jwks import ExternalTokens
from gateway.auth.signin import SignIn
from gateway.auth.tenants import TenantCache
from gateway.auth.tokens import TokenIssuer, bearer_token
from resolvers.context import Principal
from schema.errors import UnauthenticatedError

__all__ = ["Authenticator", "has_credentials", "presented_token"]


def has_credentials(headers: Headers) -> bool:
    """Whether the request carries credentials at all (else it may only sign in)."""
    return bool(headers.get("authorization") or headers.get("x-api-key"))


def presented_token(headers: Headers) -> str:
    """The credential as sent: the ``X-Api-Key`` header's value, else the bearer token."""
    return headers.get("x-api-key") or bearer_token(headers.get("authorization"))


class Authenticator:
    def __init__(
        self,
        *,
        api_keys: ApiKeys,
        tokens: TokenIssuer,
        external: ExternalTokens | None,
        signin: SignIn,
        tenants: TenantCache,
        prefetch: Callable[[str], Awaitable[object]] | None = None,
    ) -> None:
        self._api_keys = api_keys
        self._tokens = tokens
        self._external = external
        self._signin = signin
        self._tenants = tenants
        self._prefetch = prefetch

    async def authenticate(self, headers: Headers) -> Principal:
        key = headers.get("x-api-key")
        token = key.strip() if key else bearer_token(headers.get("authorization"))
        if is_api_key(token):
            principal = await self._api_keys.authenticate(token)
            await self._require_active(principal.tenant_id)
            return principal
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            raise UnauthenticatedError("invalid or expired token") from None
        if self._external is not None and algorithm in EXTERNAL_ALGORITHMS:
            principal = await self._external.verify(token)
        else:
            principal = self._tokens.verify(token)
            if not await self._signin.session_active(principal):
                raise UnauthenticatedError("invalid or expired token")
        await self._require_active(principal.tenant_id)
        return principal

    async def _require_active(self, tenant_id: str) -> None:
        if self._prefetch is None or self._tenants.fresh(tenant_id):
            await self._tenants.require_active(tenant_id)
            return
        # The prefetch's own errors are the later steps' to raise (they redo it): ignored.
        active, _ = await asyncio.gather(
            self._tenants.require_active(tenant_id),
            self._prefetch(tenant_id),
            return_exceptions=True,
        )
        if isinstance(active, BaseException):
            raise active
