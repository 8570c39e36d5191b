"""Tokens from an external identity provider: RS256 and ES256 through a JWKS document."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from gateway.app import create_app
from gateway.services import Services
from gateway.settings import Settings
from tests.support.client import GraphQLClient, Tenant, make_tenant
from tests.support.roles import make_role

ISSUER, AUDIENCE = "https://idp.example", "enclave-api"


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "other": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }


@pytest.fixture
async def idp_http(
    settings: Settings, keys: dict[str, Any], tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    rsa_jwk = json.loads(RSAAlgorithm.to_jwk(keys["rsa"].public_key()))
    ec_jwk = json.loads(ECAlgorithm.to_jwk(keys["ec"].public_key()))
    jwks = {
        "keys": [
            {**rsa_jwk, "kid": "r1", "alg": "RS256", "use": "sig"},
            {**ec_jwk, "kid": "e1", "alg": "ES256", "use": "sig"},
        ]
    }
    path = tmp_path / "jwks.json"
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


def _token(key: Any, alg: str, kid: str, tenant: str, **overrides: Any) -> str:
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
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


async def test_rs256_and_es256_tokens_from_the_jwks(
    idp_http: httpx.AsyncClient, services: Services, keys: dict[str, Any], http: httpx.AsyncClient
) -> None:
    tenant: Tenant = await make_tenant(services, "DE", "IdP Org")
    await make_role(GraphQLClient(http, tenant.token), "viewer", read=["firstName"])
    for key, alg, kid in ((keys["rsa"], "RS256", "r1"), (keys["ec"], "ES256", "e1")):
        client = GraphQLClient(idp_http, _token(key, alg, kid, tenant.id))
        me = await client.ok("{ me { id roles } }")
        # The provider decides roles; only those the tenant defines count.
        assert me["me"] == {"id": "idp|alice", "roles": ["viewer"]}
        refused = await client("{ users { id } }")
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_bad_external_tokens_are_401(
    idp_http: httpx.AsyncClient, services: Services, keys: dict[str, Any]
) -> None:
    tenant = await make_tenant(services, "DE", "IdP Org 2")
    now = int(time.time())
    bad = [
        _token(keys["other"], "RS256", "r1", tenant.id),  # wrong key
        _token(keys["rsa"], "RS256", "nope", tenant.id),  # unknown key id
        _token(keys["rsa"], "RS256", "r1", tenant.id, iss="https://evil.example"),
        _token(keys["rsa"], "RS256", "r1", tenant.id, aud="someone-else"),
        _token(keys["rsa"], "RS256", "r1", tenant.id, exp=now - 600),
        _token(keys["rsa"], "RS256", "r1", "eu_01m81ktk24z6hd50cy4acs6m2j"),  # no such tenant
        _token(keys["rsa"], "RS256", "r1", tenant.id, org=None),
    ]
    for token in bad:
        response = await idp_http.post(
            "/graphql",
            json={"query": "{ me { id } }"},
            headers={"authorization": f"Bearer {token}"},
        )
        assert response.status_code == 401, token
