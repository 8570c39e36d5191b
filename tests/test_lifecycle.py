"""Tenant states: suspended, terminated and purged tenants are locked out (401), every
change is validated and audited, and a tenant's admin can end their own environment."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

import httpx
import pytest
from starlette.applications import Starlette

from gateway.services import Services
from gateway.settings import Settings
from schema.errors import ConflictError
from storage.contract.lifecycle import TenantLifecycle
from storage.values import OPERATOR
from tests.support.client import GraphQLClient, Tenant, make_tenant
from tests.support.employees import create_employee
from tests.support.operator import enclave, enclave_json, eventually
from tests.support.raw import plain_client

ME = "query { me { id } }"
TERMINATE = """
mutation($c: String!) {
  requestTermination(confirmTenantId: $c) { tenantId status terminatedAt purgeDueAt }
}"""
LOGIN = """
mutation($t: ID!, $e: String!) { login(tenant: $t, email: $e, password: "a long password!") {
  accessToken } }"""
SIGN_IN_USER = """
mutation { createUser(email: "signs-in@example.com", roles: [], password: "a long password!") {
  id } }"""

LIFECYCLE_ENTRIES = """
query { auditLog(first: 50, filter: {operation: "lifecycle"}) {
  nodes { operation actorKind actorId } } }"""


def lifecycle(services: Services) -> TenantLifecycle:
    return services.store.lifecycle()


async def status_code(client: GraphQLClient) -> int:
    return (await client.raw(ME)).status_code


async def locked_out(client: GraphQLClient) -> bool:
    response = await client.raw(ME)
    if response.status_code != 401:
        return False
    body = response.json()
    # Nothing but the one answer every bad credential gets.
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "data" not in body or body["data"] is None
    return True


async def let_in(client: GraphQLClient) -> bool:
    return await status_code(client) == 200


async def test_suspend_resume_terminate_restore_from_the_cli(
    settings: Settings, services: Services, http: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(services, "FR")
    client = GraphQLClient(http, tenant.token)
    record = await create_employee(client)

    out = enclave_json(settings, "tenants", "suspend", tenant.id)
    assert out["status"] == "suspended"
    await eventually(lambda: locked_out(client))
    # Kept as it was while suspended.
    raw = plain_client(settings, "eu")
    try:
        db = raw[f"tenant_{tenant.id}"]
        assert await db.employees.count_documents({"_id": record["id"]}) == 1
    finally:
        await raw.close()

    assert enclave_json(settings, "tenants", "resume", tenant.id)["status"] == "active"
    await eventually(lambda: let_in(client))

    out = enclave_json(settings, "tenants", "terminate", tenant.id, "--retention-days", "30")
    assert out["status"] == "terminated" and out["retentionDays"] == 30
    terminated = dt.datetime.fromisoformat(out["terminatedAt"])
    due = dt.datetime.fromisoformat(out["purgeDueAt"])
    assert due - terminated == dt.timedelta(days=30)
    await eventually(lambda: locked_out(client))

    moved = enclave_json(settings, "tenants", "retention", tenant.id, "--days", "90")
    assert dt.datetime.fromisoformat(moved["purgeDueAt"]) - terminated == dt.timedelta(days=90)

    assert enclave_json(settings, "tenants", "restore", tenant.id)["status"] == "active"
    await eventually(lambda: let_in(client))
    data = await client.ok(f'query {{ employee(id: "{record["id"]}") {{ id firstName }} }}')
    assert data["employee"]["firstName"] == record["firstName"]

    # Audited in the tenant's own log, as the operator, and in the control history.
    entries = (await client.ok(LIFECYCLE_ENTRIES))["auditLog"]["nodes"]
    assert len(entries) == 5  # suspend, resume, terminate, retention, restore
    assert {(e["actorKind"], e["actorId"]) for e in entries} == {("operator", "operator")}
    shown = enclave_json(settings, "tenants", "show", tenant.id)
    actions = [h["action"] for h in shown["history"]]
    assert actions == ["suspend", "resume", "terminate", "set-retention", "restore"]
    assert all(h["actor"] == {"kind": "operator", "id": "operator"} for h in shown["history"])


async def test_illegal_transitions_are_refused_and_change_nothing(
    settings: Settings, services: Services
) -> None:
    tenant = await make_tenant(services, "IT")
    cases: list[tuple[tuple[str, ...], str]] = [
        (("resume", tenant.id), "cannot resume a tenant that is active"),
        (("restore", tenant.id), "cannot restore a tenant that is active"),
        (("purge", tenant.id, "--yes"), "cannot purge a tenant that is active"),
        (("retention", tenant.id, "--days", "-1"), "a retention period is 0 to 3650 days"),
        (("suspend", "eu_nonsense"), "BAD_USER_INPUT"),
    ]
    for args, message in cases:
        done = enclave(settings, "tenants", *args)
        assert done.returncode == 1, (args, done.stdout)
        assert message in done.stderr, (args, done.stderr)
    info = await services.store.get_tenant(tenant.id)
    assert info is not None and info.status == "active" and info.retention_days == 180
    assert await lifecycle(services).history(tenant.id) == []


async def test_restore_after_the_purge_date_and_purge_before_it_are_refused(
    services: Services,
) -> None:
    tenant = await make_tenant(services, "ES")
    cli = OPERATOR
    lc = lifecycle(services)
    await lc.terminate(tenant.id, cli, retention_days=30)
    with pytest.raises(ConflictError, match="the purge is due on"):
        await lc.purge(tenant.id, cli)
    await lc.set_retention(tenant.id, 0, cli)  # due now
    with pytest.raises(ConflictError, match="the purge date has passed"):
        await lc.restore(tenant.id, cli)
    info = await services.store.get_tenant(tenant.id)
    assert info is not None and info.status == "terminated"


async def test_an_admin_requests_termination_of_their_own_tenant(
    services: Services, http: httpx.AsyncClient, settings: Settings
) -> None:
    tenant = await make_tenant(services, "NL")
    client = GraphQLClient(http, tenant.token)
    wrong = await client(TERMINATE, {"c": "eu_01SOMETHINGELSE"})
    assert wrong["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    info = await services.store.get_tenant(tenant.id)
    assert info is not None and info.status == "active"

    # Not for other roles.
    other = await _user(services, tenant, client)
    refused = await other(TERMINATE, {"c": tenant.id})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    await client.ok(SIGN_IN_USER)
    login_vars = {"t": tenant.id, "e": "signs-in@example.com"}
    signed_in = await http.post("/graphql", json={"query": LOGIN, "variables": login_vars})
    assert "errors" not in signed_in.json(), signed_in.json()

    done = (await client.ok(TERMINATE, {"c": tenant.id}))["requestTermination"]
    assert done["status"] == "terminated"
    due = dt.datetime.fromisoformat(done["purgeDueAt"])
    at = dt.datetime.fromisoformat(done["terminatedAt"])
    assert due - at == dt.timedelta(days=180)
    await eventually(lambda: locked_out(client))
    # Sign-in with the right password is refused too, like a wrong one.
    login = await http.post("/graphql", json={"query": LOGIN, "variables": login_vars})
    assert login.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert login.json()["data"] is None

    history = await lifecycle(services).history(tenant.id)
    assert [(h["action"], h["actor"]) for h in history] == [
        ("request-termination", {"kind": "user", "id": tenant.admin_id})
    ]
    raw = plain_client(settings, "eu")
    try:
        entry = await raw[f"tenant_{tenant.id}"].audit.find_one({"op": "lifecycle"})
    finally:
        await raw.close()
    assert entry is not None and entry["actor"]["id"] == tenant.admin_id
    assert entry["detail"]["action"] == "request-termination"


async def _user(services: Services, tenant: Tenant, admin: GraphQLClient) -> GraphQLClient:
    made = await admin.ok('mutation { createUser(email: "u@example.com", roles: []) { id } }')
    user_id = made["createUser"]["id"]
    return GraphQLClient(admin.http, services.tokens.issue(tenant.id, user_id, []))


async def test_gateways_hear_of_a_suspension_instead_of_waiting_for_their_tenant_cache(
    settings: Settings, services: Services, http: httpx.AsyncClient, app: Starlette
) -> None:
    tenant = await make_tenant(services, "FR")
    client = GraphQLClient(http, tenant.token)
    gateway = app.state.services
    listener = asyncio.create_task(gateway.policies.listen())
    ttl = gateway.tenants._ttl
    gateway.tenants._ttl = 3600.0  # were the cache all there is, the tenant would stay in
    try:
        await eventually(lambda: asyncio.sleep(0, gateway.policies.listening))
        assert await status_code(client) == 200  # cached as active
        # In a thread: the listener is this event loop's, as in a gateway.
        suspended = await asyncio.to_thread(enclave_json, settings, "tenants", "suspend", tenant.id)
        assert suspended["status"] == "suspended"
        await eventually(lambda: locked_out(client))
        resumed = await asyncio.to_thread(enclave_json, settings, "tenants", "resume", tenant.id)
        assert resumed["status"] == "active"
        await eventually(lambda: let_in(client))
    finally:
        gateway.tenants._ttl = ttl
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
