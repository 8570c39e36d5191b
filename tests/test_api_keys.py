"""API keys for integrators: shown once, stored hashed, scoped to a role, revoked at once."""

from __future__ import annotations

import httpx

from gateway.services import Services
from gateway.settings import Settings
from regions.routing import database_name
from tests.support.client import GraphQLClient, make_tenant
from tests.support.employees import create_employee
from tests.support.raw import plain_client, raw_bytes
from tests.support.roles import CREATE_API_KEY, make_role


async def test_keys_work_are_scoped_and_revoked_everywhere(
    http: httpx.AsyncClient, services: Services, settings: Settings
) -> None:
    tenant = await make_tenant(services, "DE", "Keys Org")
    admin = GraphQLClient(http, tenant.token)
    await create_employee(admin)
    await make_role(admin, "etl", read=["firstName", "lastName"])
    created = (await admin.ok(CREATE_API_KEY, {"role": "etl"}))["createApiKey"]
    key = created["key"]
    assert key.startswith(f"enk_{tenant.id}_") and created["apiKey"]["revoked"] is False

    for headers in ({"x-api-key": key}, {"authorization": f"Bearer {key}"}):
        response = await http.post(
            "/graphql",
            json={"query": "{ employees { nodes { firstName } } me { roles } }"},
            headers=headers,
        )
        body = response.json()
        assert "errors" not in body, body
        assert body["data"]["me"]["roles"] == ["etl"]
    refused = await http.post(
        "/graphql", json={"query": "{ employees { nodes { salary } } }"}, headers={"x-api-key": key}
    )
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    listed = await admin.ok("{ apiKeys { id lastUsedAt revoked } }")
    assert listed["apiKeys"][0]["lastUsedAt"] is not None

    # Stored hashed: the secret is nowhere in the database.
    secret = key.rsplit("_", 1)[1]
    client = plain_client(settings, "eu")
    try:
        doc = await client[database_name(tenant.id)]["api_keys"].find_one({})
        assert doc is not None and secret.encode() not in raw_bytes(doc)
    finally:
        await client.close()

    revoked = await admin.ok(
        f'mutation {{ revokeApiKey(id: "{created["apiKey"]["id"]}") {{ revoked }} }}'
    )
    assert revoked["revokeApiKey"]["revoked"] is True
    after = await http.post("/graphql", json={"query": "{ me { id } }"}, headers={"x-api-key": key})
    assert after.status_code == 401


async def test_forged_and_foreign_keys_are_401(http: httpx.AsyncClient, services: Services) -> None:
    tenant = await make_tenant(services, "DE", "Keys Org 2")
    admin = GraphQLClient(http, tenant.token)
    key = (await admin.ok(CREATE_API_KEY, {"role": "admin"}))["createApiKey"]["key"]
    prefix, secret = key.rsplit("_", 1)
    other = await make_tenant(services, "US", "Keys Org 3")
    for forged in (
        f"{prefix}_{'x' * len(secret)}",  # wrong secret
        key.replace(tenant.id, other.id),  # another tenant's id
        "enk_garbage",
        f"enk_{tenant.id}_01M81KTK58R9JDRYNZ7F3HPA00_{secret}",  # no such key
    ):
        response = await http.post(
            "/graphql", json={"query": "{ me { id } }"}, headers={"x-api-key": forged}
        )
        assert response.status_code == 401, forged
    unknown = await admin(CREATE_API_KEY, {"role": "ghost"})
    assert unknown["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
