"""Persisted operations: automatic persisted queries and the per-tenant allow-list mode."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.services import Services
from gateway.settings import Settings
from tests.support.client import GraphQLClient, Tenant, make_tenant
from tests.support.gateways import gateway_env
from tests.support.operator import run_enclave
from tests.support.roles import make_role, make_user

LIST = "query Names { employees(first: 3) { nodes { id lastName } } }"


def sha(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


async def post(client: GraphQLClient, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = await client.http.post(
        "/graphql", json=body, headers={"authorization": f"Bearer {client.token}"}
    )
    return response.status_code, response.json()


def persisted(hash_: str, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": hash_}}


def code(body: dict[str, Any]) -> str:
    return str(body["errors"][0]["extensions"]["code"])


@pytest.fixture(scope="module")
async def tenant(services: Services) -> Tenant:
    return await make_tenant(services, "FR", "Persisted Org")


@pytest.fixture
def admin(http: httpx.AsyncClient, tenant: Tenant) -> GraphQLClient:
    return GraphQLClient(http, tenant.token)


async def test_a_miss_then_the_document_registers_it(
    admin: GraphQLClient, services: Services, tenant: Tenant, us: GraphQLClient
) -> None:
    document = f"query Q{uuid.uuid4().hex[:8]} {{ employees(first: 2) {{ nodes {{ id }} }} }}"
    hash_ = sha(document)
    status, body = await post(admin, {"extensions": persisted(hash_)})
    assert status == 200 and code(body) == "PERSISTED_QUERY_NOT_FOUND"
    assert body["errors"][0]["message"] == "PersistedQueryNotFound"

    status, body = await post(admin, {"query": document, "extensions": persisted(hash_)})
    assert status == 200 and "errors" not in body, body
    store = services.store.for_tenant(tenant.id).operations
    assert await store.document(hash_) == document

    status, again = await post(admin, {"extensions": persisted(hash_)})
    assert status == 200 and again == body
    # Registered for this tenant only.
    status, elsewhere = await post(us, {"extensions": persisted(hash_)})
    assert code(elsewhere) == "PERSISTED_QUERY_NOT_FOUND"


async def test_a_hash_that_is_not_the_documents_is_refused(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    document = f"query Q{uuid.uuid4().hex[:8]} {{ employees {{ nodes {{ id }} }} }}"
    wrong = sha(document + " ")
    status, body = await post(admin, {"query": document, "extensions": persisted(wrong)})
    assert status == 400 and code(body) == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["field"] == "extensions.persistedQuery.sha256Hash"
    store = services.store.for_tenant(tenant.id).operations
    assert await store.document(wrong) is None and await store.document(sha(document)) is None
    for bad in (persisted(sha(document), version=2), persisted("ABC"), {"persistedQuery": 1}):
        status, body = await post(admin, {"query": document, "extensions": bad})
        assert status == 400 and code(body) == "BAD_USER_INPUT"


async def test_allow_list_mode_runs_only_registered_operations(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    name = f"reader{uuid.uuid4().hex[:6]}"
    await make_role(admin, name, read=["lastName"])
    reader, _ = await make_user(admin, services, tenant, f"{name}@example.com", [name])
    registered = await admin.ok(
        "mutation($d: String!) { registerOperation(document: $d) }", {"d": LIST}
    )
    assert registered["registerOperation"] == sha(LIST)
    refused = await reader("mutation { setOperationAllowList(enabled: true) }")
    assert code(refused) == "FORBIDDEN"

    assert (await admin.ok("mutation { setOperationAllowList(enabled: true) }")) == {
        "setOperationAllowList": True
    }
    try:
        other = "{ employees(first: 1) { nodes { id } } }"
        status, body = await post(reader, {"query": other})
        assert status == 403 and code(body) == "OPERATION_NOT_ALLOWED"
        # Sending it as a persisted query does not register it either.
        status, body = await post(reader, {"query": other, "extensions": persisted(sha(other))})
        assert status == 403 and code(body) == "OPERATION_NOT_ALLOWED"
        assert await services.store.for_tenant(tenant.id).operations.document(sha(other)) is None
        # Registered ones run, in full or by hash.
        status, full = await post(reader, {"query": LIST})
        assert status == 200 and "errors" not in full
        status, by_hash = await post(reader, {"extensions": persisted(sha(LIST))})
        assert status == 200 and by_hash == full
    finally:
        # Managing the allow-list is never refused by it.
        await admin.ok("mutation { setOperationAllowList(enabled: false) }")
    status, body = await post(reader, {"query": "{ employees(first: 1) { nodes { id } } }"})
    assert status == 200 and "errors" not in body


async def test_changes_to_registered_operations_are_audited(
    admin: GraphQLClient, tenant: Tenant
) -> None:
    document = f"query Q{uuid.uuid4().hex[:8]} {{ employees {{ nodes {{ id }} }} }}"
    await admin.ok("mutation($d: String!) { registerOperation(document: $d) }", {"d": document})
    log = await admin.ok("query { auditLog(first: 20) { nodes { operation datasheet record } } }")
    records = [n["record"] for n in log["auditLog"]["nodes"]]
    assert sha(document) in records


async def test_an_operator_registers_and_switches_allow_list_mode(
    settings: Settings, services: Services, tmp_path: Path
) -> None:
    tenant = await make_tenant(services, "IT", "Operated Org")
    document = tmp_path / "names.graphql"
    document.write_text(LIST)
    env = gateway_env(settings)
    made = run_enclave(["operations", "register", "--tenant", tenant.id, str(document)], env)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["sha256Hash"] == sha(LIST)
    switched = run_enclave(["operations", "allow-list", "--tenant", tenant.id, "--on"], env)
    assert switched.returncode == 0, switched.stderr
    store = services.store.for_tenant(tenant.id).operations
    assert await store.allow_list() is True
    assert await store.document(sha(LIST)) == LIST
    bad = tmp_path / "bad.graphql"
    bad.write_text("query {")
    refused = run_enclave(["operations", "register", "--tenant", tenant.id, str(bad)], env)
    assert refused.returncode == 1 and "BAD_USER_INPUT" in refused.stderr
