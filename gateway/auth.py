"""Bearer tokens: HS256 JWTs carrying tenant, subject and roles.

Claims: ``tid`` (tenant id), ``sub`` (user id), ``roles`` (list), plus ``iss``, ``aud``,
``iat`` and ``exp``, all required. Anything wrong with a token, or a tenant that does not
exist or is not active, is the same ``UNAUTHENTICATED``: nothing tells a caller which.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Literal

import jwt
from starlette.requests import HTTPConnection

from resolvers.context import Principal
from schema.errors import BadUserInputError, RegionUnavailableError, UnauthenticatedError
from storage.base import Store
from storage.values import Actor, TenantInfo

__all__ = ["TenantCache", "TokenIssuer", "actor_for", "bearer_token"]

ALGORITHM = "HS256"
_REQUIRED = ["tid", "sub", "roles", "iss", "aud", "iat", "exp"]


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise UnauthenticatedError("authentication required")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthenticatedError("authentication required")
    return token.strip()


def actor_for(
    request: HTTPConnection,
    user_id: str,
    kind: Literal["user", "api_key"] = "user",
    roles: tuple[str, ...] = (),
    request_id: str | None = None,
) -> Actor:
    """The actor of a request, as the audit log records it: who, with which roles, from
    which client address and user agent, in which request."""
    return Actor(
        user_id=user_id,
        roles=roles,
        kind=kind,
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        request_id=request_id,
    )


class TokenIssuer:
    """Signs and verifies the gateway's own tokens."""

    def __init__(self, key: str, *, issuer: str, audience: str, leeway: int, ttl: int) -> None:
        self._key = key
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._ttl = ttl

    def issue(
        self,
        tenant_id: str,
        user_id: str,
        roles: Sequence[str],
        ttl: int | None = None,
        *,
        sid: str | None = None,
        scope: str | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, object] = {
            "tid": tenant_id,
            "sub": user_id,
            "roles": list(roles),
            "iss": self._issuer,
            "aud": self._audience,
            "iat": now,
            "exp": now + (self._ttl if ttl is None else ttl),
        }
        if sid is not None:
            claims["sid"] = sid
        if scope is not None:
            claims["scope"] = scope
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": _REQUIRED},
            )
        except jwt.PyJWTError:
            raise UnauthenticatedError("invalid or expired token") from None
        tenant, subject, roles = claims["tid"], claims["sub"], claims["roles"]
        sid, scope = claims.get("sid"), claims.get("scope")
        if not (
            isinstance(tenant, str)
            and isinstance(subject, str)
            and isinstance(roles, list)
            and all(isinstance(r, str) for r in roles)
            and isinstance(sid, str | None)
            and isinstance(scope, str | None)
        ):
            raise UnauthenticatedError("invalid or expired token")
        return Principal(
            tenant_id=tenant, user_id=subject, roles=tuple(roles), session=sid, scope=scope
        )


class TenantCache:
    """Tenant control records, cached briefly: a suspended tenant is locked out within *ttl*,
    at once where the change is announced on the policy channel (resolvers.authz.policycache).

    While a region is unreachable, an entry up to *stale_ttl* old is still used, so that
    the tenant's requests get ``REGION_UNAVAILABLE`` from the operation itself, in the
    GraphQL response, like every other error of an authenticated caller.
    """

    def __init__(self, store: Store, ttl: float = 5.0, stale_ttl: float = 600.0) -> None:
        self._store = store
        self._ttl = ttl
        self._stale_ttl = stale_ttl
        self._entries: dict[str, tuple[float, TenantInfo | None]] = {}

    def forget(self, tenant_id: str) -> None:
        """Read the tenant's control record again on its next request (its state changed)."""
        self._entries.pop(tenant_id, None)

    async def require_active(self, tenant_id: str) -> TenantInfo:
        now = time.monotonic()
        hit = self._entries.get(tenant_id)
        if hit is None or hit[0] + self._ttl < now:
            try:
                info = await self._store.get_tenant(tenant_id)
            except BadUserInputError:
                info = None
            except RegionUnavailableError:
                if hit is None or hit[0] + self._stale_ttl < now:
                    raise
                info = hit[1]
            else:
                if len(self._entries) > 10_000:
                    self._entries.clear()
                self._entries[tenant_id] = (now, info)
        else:
            info = hit[1]
        if info is None or info.status != "active":
            raise UnauthenticatedError("invalid or expired token")
        return info
