"""Tokens, and tenants kept apart whatever ids a caller sends."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest

from gateway.services import Services
from regions.routing import new_tenant_id
from tests.support.client import GraphQLClient, Tenant
from tests.support.employees import UPDATE_EMPLOYEE, create_employee

QUERY = {"query": "{ employees(first: 1) { nodes { id } } }"}


async def _status(http: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await http.post("/graphql", json=QUERY, headers=headers)


def _forge(claims: dict[str, object], key: str = "test-secret-" + "x" * 40) -> str:
    base: dict[str, object] = {
        "iss": "enclave",
        "aud": "enclave",
        "iat": int(time.time()),
        "exp": int(time.time()) + 60,
        "roles": ["admin"],
        "sub": "u",
    }
    return jwt.encode({**base, **claims}, key, algorithm="HS256")


async def test_no_token_is_401(http: httpx.AsyncClient) -> None:
    response = await _status(http, {})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("scheme", ["Basic abc", "Bearer", "Bearer not.a.jwt", "Token x"])
async def test_malformed_authorization_is_401(http: httpx.AsyncClient, scheme: str) -> None:
    assert (await _status(http, {"authorization": scheme})).status_code == 401


async def test_forged_expired_and_foreign_tokens_are_401(
    http: httpx.AsyncClient, eu_tenant: Tenant
) -> None:
    tid = eu_tenant.id
    bad = [
        _forge({"tid": tid}, key="another-secret-" + "y" * 40),  # wrong key
        _forge({"tid": tid, "exp": int(time.time()) - 3600}),  # expired
        _forge({"tid": tid, "iss": "someone-else"}),
        _forge({"tid": tid, "aud": "another-api"}),
        _forge({"tid": new_tenant_id("eu")}),  # a tenant that does not exist
        _forge({"tid": "../../admin"}),
        _forge({"tid": tid, "roles": "admin"}),  # roles must be a list
        # alg none
        jwt.encode({"tid": tid, "sub": "u"}, None, algorithm="none"),  # type: ignore[arg-type]
    ]
    bodies = set()
    for token in bad:
        response = await _status(http, {"authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
        bodies.add(response.text)
    assert len(bodies) == 1  # nothing tells a caller what was wrong


async def test_token_without_tenant_claim_is_401(http: httpx.AsyncClient) -> None:
    token = _forge({})
    assert (await _status(http, {"authorization": f"Bearer {token}"})).status_code == 401


async def test_a_tenant_cannot_reach_another_tenants_records(
    eu: GraphQLClient, us: GraphQLClient, services: Services
) -> None:
    theirs = await create_employee(us)
    other_eu_tenant, admin = await services.store.create_tenant("Other", "DE", "o@example.com")
    other = GraphQLClient(eu.http, services.tokens.issue(other_eu_tenant.id, admin.id, ["admin"]))
    same_region = await create_employee(other)
    for record in (theirs, same_region):
        got = await eu(f'{{ employee(id: "{record["id"]}") {{ id lastName }} }}')
        assert got["data"] is None
        assert got["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        changed = await eu(UPDATE_EMPLOYEE, {"id": record["id"], "v": 1, "input": {"salary": 1}})
        assert changed["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        deleted = await eu(
            f'mutation {{ deleteEmployee(id: "{record["id"]}", expectedVersion: 1) {{ id }} }}'
        )
        assert deleted["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        assert record["lastName"] not in str(got) + str(changed) + str(deleted)
    # The owners still see their records unchanged.
    mine = await us.ok(f'{{ employee(id: "{theirs["id"]}") {{ version salary }} }}')
    assert mine["employee"] == {"version": 1, "salary": theirs["salary"]}
    listed = await eu.ok("{ employees(first: 500) { nodes { id } } }")
    ids = {n["id"] for n in listed["employees"]["nodes"]}
    assert theirs["id"] not in ids and same_region["id"] not in ids


async def test_oversized_body_is_413_and_changes_nothing(
    http: httpx.AsyncClient, eu_tenant: Tenant
) -> None:
    big = {"query": "{ employees { nodes { id } } }", "variables": {"x": "a" * 2_000_000}}
    response = await http.post(
        "/graphql", json=big, headers={"authorization": f"Bearer {eu_tenant.token}"}
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_malformed_json_is_a_clear_400(http: httpx.AsyncClient, eu_tenant: Tenant) -> None:
    response = await http.post(
        "/graphql",
        content=b'{"query": "{ employees',
        headers={"authorization": f"Bearer {eu_tenant.token}", "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_security_headers(eu: GraphQLClient) -> None:
    response = await eu.raw("{ employees(first: 1) { nodes { id } } }")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-request-id"]
