"""Tokens from an external identity provider: RS256 and ES256 through a JWKS document."""

from __future__ import annotations

import time
from typing import Any

import httpx

from gateway.services import Services
from tests.support.client import GraphQLClient, Tenant, make_tenant
from tests.support.idp import idp_token as _token
from tests.support.roles import make_role


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
