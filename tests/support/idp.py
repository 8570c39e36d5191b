"""An external identity provider for tests: its signing keys, a gateway that accepts its
tokens (RS256/ES256 through a JWKS file), and tokens it would issue."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from gateway.app import create_app
from gateway.settings import Settings

ISSUER, AUDIENCE = "https://idp.example", "enclave-api"


def idp_keys() -> dict[str, Any]:
    """The provider's RSA (``r1``) and EC (``e1``) keys, and an RSA key it does not publish."""
    return {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "other": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }


@contextlib.asynccontextmanager
async def idp_gateway(
    settings: Settings, keys: dict[str, Any], folder: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway process of its own that also accepts the provider's tokens (tenant claim
    ``org``, roles claim ``groups``), and a client of it."""
    rsa_jwk = json.loads(RSAAlgorithm.to_jwk(keys["rsa"].public_key()))
    ec_jwk = json.loads(ECAlgorithm.to_jwk(keys["ec"].public_key()))
    jwks = {
        "keys": [
            {**rsa_jwk, "kid": "r1", "alg": "RS256", "use": "sig"},
            {**ec_jwk, "kid": "e1", "alg": "ES256", "use": "sig"},
        ]
    }
    path = folder / "jwks.json"
    path.write_text(json.dumps(jwks))
    configured = settings.model_copy(
        update={
            "jwt_jwks_file": path,
            "jwt_external_issuer": ISSUER,
            "jwt_external_audience": AUDIENCE,
            "jwt_tenant_claim": "org",
            "jwt_roles_claim": "groups",
        }
    )
    app = create_app(configured, background=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50003))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


def idp_token(key: Any, alg: str, kid: str, tenant: str, **overrides: Any) -> str:
    """A token of the provider for ``idp|alice`` of *tenant* (claims overridden; a claim
    overridden with None is left out)."""
    now = int(time.time())
    claims = {
        "org": tenant,
        "sub": "idp|alice",
        "groups": ["viewer", "unknown-group"],
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
        **overrides,
    }
    return jwt.encode(
        {k: v for k, v in claims.items() if v is not None}, key, algorithm=alg, headers={"kid": kid}
    )
