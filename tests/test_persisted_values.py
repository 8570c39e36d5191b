"""Stored documents (persisted operations) hold no personal data at rest, erasure reaches
those stored before that rule, and only callers who may run a document register it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.dev.servers import LocalStack
from gateway.services import Services
from gateway.settings import Settings
from regions.routing import database_name
from storage.values import Actor
from tests.support.client import GraphQLClient, Tenant, make_tenant
from tests.support.employees import create_employee, marker
from tests.support.operator import enclave
from tests.support.raw import plain_client, raw_bytes
from tests.support.roles import make_role, make_user

LOG = """query($r: ID) { auditLog(first: 10, filter: {record: $r}) {
  nodes { operation redacted changes { field before after } } } }"""


def sha(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def apq(document: str | None, hash_: str, variables: dict[str, Any] | None = None) -> Any:
    body: dict[str, Any] = {
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": hash_}},
        "variables": variables or {},
    }
    if document is not None:
        body["query"] = document
    return body


async def post(client: GraphQLClient, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = await client.http.post(
        "/graphql", json=body, headers={"authorization": f"Bearer {client.token}"}
    )
    return response.status_code, response.json()


@pytest.fixture
async def tenant(services: Services) -> Tenant:
    return await make_tenant(services, "AT", "Stored Docs Org")


@pytest.fixture
def admin(http: httpx.AsyncClient, tenant: Tenant) -> GraphQLClient:
    return GraphQLClient(http, tenant.token)


async def _plaintext_at_rest(
    settings: Settings, tenant: Tenant, needles: list[str], stack: LocalStack | None
) -> list[str]:
    """Where any of *needles* is found in the clear: the tenant's collections, and the
    servers' files."""
    found: list[str] = []
    client = plain_client(settings, "eu")
    try:
        db = client[database_name(tenant.id)]
        for name in await db.list_collection_names():
            async for doc in db[name].find({}):
                blob = raw_bytes(doc)
                found += [f"{name}" for n in needles if n.encode() in blob]
    finally:
        await client.close()
    if stack is not None:
        for path in Path(stack.root).rglob("*"):
            if path.is_file() and "logs" not in path.parts:
                content = path.read_bytes()
                found += [str(path) for n in needles if n.encode() in content]
    return found


async def test_documents_with_values_are_refused_on_every_path(
    admin: GraphQLClient,
    services: Services,
    settings: Settings,
    tenant: Tenant,
    stack: LocalStack | None,
    tmp_path: Path,
) -> None:
    email = f"{marker('apq')}@example.com"
    name = marker("Lovelace")
    document = (
        f'query {{ employees(first: 5, filter: {{workEmail: "{email}", lastName: "{name}"}}) '
        "{ nodes { id } } }"
    )
    status, body = await post(admin, apq(document, sha(document)))
    assert status == 400 and body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["field"] == "query"
    message = body["errors"][0]["message"]
    assert "variable" in message and email not in message and name not in message
    registered = await admin(
        "mutation($d: String!) { registerOperation(document: $d) }", {"d": document}
    )
    assert registered["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert email not in str(registered["errors"])
    for other in (
        "query { employees(first: 1, filter: {salary: 65432}) { nodes { id } } }",
        'query($e: String = "x@example.com") { employees(first: 1) { nodes { id } } }',
        "query { employees(first: 1) { nodes { id } } } # about x@example.com",
    ):
        status, body = await post(admin, apq(other, sha(other)))
        assert status == 400 and body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    file = tmp_path / "q.graphql"
    file.write_text(document)
    cli = enclave(settings, "operations", "register", "--tenant", tenant.id, str(file))
    assert cli.returncode == 1 and "BAD_USER_INPUT" in cli.stderr and email not in cli.stderr

    store = services.store.for_tenant(tenant.id).operations
    assert await store.document(sha(document)) is None
    assert await _plaintext_at_rest(settings, tenant, [email, name], stack) == []

    # The same query with variables is stored, and runs by its hash.
    variables = {"f": {"workEmail": email}}
    with_vars = "query($f: EmployeeFilter) { employees(first: 5, filter: $f) { nodes { id } } }"
    status, body = await post(admin, apq(with_vars, sha(with_vars), variables))
    assert status == 200 and "errors" not in body, body
    assert await store.document(sha(with_vars)) == with_vars
    status, again = await post(admin, apq(None, sha(with_vars), variables))
    assert status == 200 and again == body


async def test_an_enroll_only_token_registers_nothing(
    http: httpx.AsyncClient, services: Services, tenant: Tenant
) -> None:
    token = services.tokens.issue(tenant.id, tenant.admin_id, ["admin"], scope="enroll")
    enrolling = GraphQLClient(http, token)
    store = services.store.for_tenant(tenant.id).operations
    allowed = "query Me { me { id } }"
    status, body = await post(enrolling, apq(allowed, sha(allowed)))
    assert status == 200 and "errors" not in body, body
    forbidden = "query Names { employees(first: 1) { nodes { id lastName } } }"
    status, body = await post(enrolling, apq(forbidden, sha(forbidden)))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await store.document(sha(allowed)) is None
    assert await store.document(sha(forbidden)) is None
    registered = await enrolling(
        "mutation($d: String!) { registerOperation(document: $d) }", {"d": allowed}
    )
    assert registered["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_only_what_the_caller_may_run_is_registered(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    await make_role(admin, "names-only", read=["lastName"])
    reader, _ = await make_user(admin, services, tenant, "names@example.com", ["names-only"])
    store = services.store.for_tenant(tenant.id).operations
    salaries = "query Pay { employees(first: 1) { nodes { id salary } } }"
    status, body = await post(reader, apq(salaries, sha(salaries)))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await store.document(sha(salaries)) is None
    # Every operation of the document counts, not only the one run.
    mixed = "query A { employees(first: 1) { nodes { id } } } query B { roles { name } }"
    status, body = await post(reader, {**apq(mixed, sha(mixed)), "operationName": "A"})
    assert await store.document(sha(mixed)) is None
    names = "query Names { employees(first: 1) { nodes { id lastName } } }"
    status, body = await post(reader, apq(names, sha(names)))
    assert status == 200 and "errors" not in body, body
    assert await store.document(sha(names)) == names


async def test_erasure_reaches_documents_stored_before_the_rule(
    admin: GraphQLClient,
    services: Services,
    settings: Settings,
    tenant: Tenant,
) -> None:
    email = f"{marker('legacy')}@example.com"
    await create_employee(admin, workEmail=email)
    # Stored straight through the storage layer, as the gateway did before refusing values.
    legacy = f'query {{ employees(filter: {{workEmail: "{email}"}}) {{ nodes {{ id }} }} }}'
    store = services.store.for_tenant(tenant.id)
    actor = Actor(user_id=tenant.admin_id, roles=("admin",))
    assert await store.operations.register(sha(legacy), legacy, actor)
    before = await admin.ok(LOG, {"r": sha(legacy)})
    assert email in str(before)  # the registration's values hold the document

    erased = await admin.ok(
        "mutation($e: String!) { eraseDataSubject(email: $e) { auditEntriesRedacted } }",
        {"e": email},
    )
    assert erased["eraseDataSubject"]["auditEntriesRedacted"] >= 2
    assert await store.operations.document(sha(legacy)) is None
    after = (await admin.ok(LOG, {"r": sha(legacy)}))["auditLog"]["nodes"]
    assert email not in str(after)
    assert [n["operation"] for n in after] == ["delete", "create"]
    assert all(n["redacted"] or n["changes"] == [] for n in after)
    # The collections (not the server's files: SQLite keeps freed pages until reused).
    assert await _plaintext_at_rest(settings, tenant, [email], None) == []
    assert (await admin.ok("{ auditVerify { ok } }"))["auditVerify"]["ok"] is True
