"""Bearer tokens: HS256 JWTs carrying tenant, subject and roles.

Claims: ``tid`` (tenant id), ``sub`` (user id), ``roles`` (list), plus ``iss``, ``aud``,
``iat`` and ``exp``, all required. Anything wrong with a token, or a tenant that does not
exist or is not active (:mod:`gateway.auth.tenants`), is the same ``UNAUTHENTICATED``:
nothing tells a caller which.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import jwt

from resolvers.context import Principal
from schema.errors import UnauthenticatedError

__all__ = ["TokenIssuer", "bearer_token"]

ALGORITHM = "HS256"
_REQUIRED = ["tid", "sub", "roles", "iss", "aud", "iat", "exp"]


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise UnauthenticatedError("authentication required")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthenticatedError("authentication required")
    return token.strip()


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
            and isinstance(claims["iat"], int)
        ):
            raise UnauthenticatedError("invalid or expired token")
        return Principal(
            tenant_id=tenant,
            user_id=subject,
            roles=tuple(roles),
            session=sid,
            scope=scope,
            issued_at=claims["iat"],
        )
