"""Tokens from an external identity provider: RS256 or ES256, keys from a JWKS document.

The JWKS comes from a file or a URL (``ENCLAVE_JWT_JWKS_FILE`` / ``ENCLAVE_JWT_JWKS_URL``);
from a URL it is cached and refreshed by PyJWT's ``PyJWKClient`` (fetched off the event
loop). Issuer, audience, leeway and the names of the tenant, subject and roles claims are
settings. The provider decides the user's roles (the roles claim); they count only if the
tenant defines them (or ``admin``). Anything wrong is ``UNAUTHENTICATED``, like any token.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import jwt

from resolvers.context import Principal
from schema.errors import UnauthenticatedError

__all__ = ["ALGORITHMS", "ExternalTokens"]

ALGORITHMS = ("RS256", "ES256")


class ExternalTokens:
    def __init__(
        self,
        *,
        jwks_file: Path | None,
        jwks_url: str | None,
        issuer: str,
        audience: str,
        leeway: int,
        tenant_claim: str,
        subject_claim: str,
        roles_claim: str,
    ) -> None:
        if (jwks_file is None) == (jwks_url is None):
            raise ValueError("set exactly one of ENCLAVE_JWT_JWKS_FILE and ENCLAVE_JWT_JWKS_URL")
        self._set = jwt.PyJWKSet.from_json(jwks_file.read_text()) if jwks_file else None
        self._client = (
            jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300) if jwks_url else None
        )
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._claims = (tenant_claim, subject_claim, roles_claim)

    async def _key(self, token: str) -> jwt.PyJWK:
        kid = jwt.get_unverified_header(token).get("kid")
        if self._set is not None:
            for key in self._set.keys:
                if key.key_id == kid:
                    return key
            raise jwt.InvalidKeyError("unknown key id")
        assert self._client is not None
        return await asyncio.to_thread(self._client.get_signing_key_from_jwt, token)

    async def verify(self, token: str) -> Principal:
        tenant_claim, subject_claim, roles_claim = self._claims
        try:
            key = await self._key(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": [tenant_claim, subject_claim, "iss", "aud", "exp"]},
            )
        except (jwt.PyJWTError, jwt.PyJWKClientError, ValueError, OSError):
            raise UnauthenticatedError("invalid or expired token") from None
        tenant, subject = claims.get(tenant_claim), claims.get(subject_claim)
        roles, issued = claims.get(roles_claim, []), claims.get("iat")
        if not (
            isinstance(tenant, str)
            and isinstance(subject, str)
            and isinstance(roles, list)
            and all(isinstance(r, str) for r in roles)
            and isinstance(issued, int | None)
        ):
            raise UnauthenticatedError("invalid or expired token")
        # No ``iat``: the token counts as issued before any block (a blocked subject's is
        # refused), not as issued now.
        return Principal(
            tenant_id=tenant,
            user_id=subject,
            roles=tuple(roles),
            external=True,
            issued_at=issued,
        )
