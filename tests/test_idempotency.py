"""A mutation retried with the same Idempotency-Key returns the first result and writes
nothing again, not even an audit entry."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from gateway.dev.servers import LocalStack
from gateway.settings import Settings
from regions.routing import database_name
from tests.support.client import Tenant
from tests.support.employees import CREATE_EMPLOYEE, employee_input
from tests.support.raw import plain_client
from tests.support.servers import EXTERNAL


async def _post(
    http: httpx.AsyncClient, tenant: Tenant, key: str | None, payload: dict[str, Any]
) -> httpx.Response:
    headers = {"authorization": f"Bearer {tenant.token}"}
    if key is not None:
        headers["idempotency-key"] = key
    return await http.post("/graphql", json=payload, headers=headers)


async def _count(settings: Settings, tenant: Tenant) -> tuple[int, int]:
    client = plain_client(settings, "eu")
    try:
        db = client[database_name(tenant.id)]
        records = await db["employees"].count_documents({})
        audit = await db["audit"].count_documents({"datasheet": "employees", "op": "create"})
        return records, audit
    finally:
        await client.close()


async def test_a_retry_returns_the_first_result_and_writes_nothing(
    http: httpx.AsyncClient, eu_tenant: Tenant, settings: Settings
) -> None:
    payload = {"query": CREATE_EMPLOYEE, "variables": {"input": employee_input()}}
    key = f"create-{uuid.uuid4()}"
    before = await _count(settings, eu_tenant)
    first = await _post(http, eu_tenant, key, payload)
    again = await _post(http, eu_tenant, key, payload)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and "errors" not in first.json()
    assert again.headers["idempotent-replayed"] == "true"
    after = await _count(settings, eu_tenant)
    assert after == (before[0] + 1, before[1] + 1)
    # The same key with another request is refused; another key runs.
    other = {"query": CREATE_EMPLOYEE, "variables": {"input": employee_input()}}
    reused = await _post(http, eu_tenant, key, other)
    assert reused.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    fresh = await _post(http, eu_tenant, f"create-{uuid.uuid4()}", other)
    assert "errors" not in fresh.json()


async def test_concurrent_retries_run_once(
    http: httpx.AsyncClient, eu_tenant: Tenant, settings: Settings
) -> None:
    payload = {"query": CREATE_EMPLOYEE, "variables": {"input": employee_input()}}
    key = f"burst-{uuid.uuid4()}"
    before = await _count(settings, eu_tenant)
    responses = await asyncio.gather(*(_post(http, eu_tenant, key, payload) for _ in range(6)))
    created = {
        r.json()["data"]["createEmployee"]["id"]
        for r in responses
        if r.status_code == 200 and (r.json().get("data") or {}).get("createEmployee")
    }
    assert len(created) == 1
    for r in responses:
        body = r.json()
        if not (body.get("data") or {}).get("createEmployee"):
            assert body["errors"][0]["extensions"]["code"] == "CONFLICT"  # still running
    assert await _count(settings, eu_tenant) == (before[0] + 1, before[1] + 1)


async def test_stored_answers_are_encrypted(
    http: httpx.AsyncClient, eu_tenant: Tenant, services: Any
) -> None:
    secret = f"Secret{uuid.uuid4().hex[:8]}"
    payload = {"query": CREATE_EMPLOYEE, "variables": {"input": employee_input(lastName=secret)}}
    await _post(http, eu_tenant, f"enc-{uuid.uuid4()}", payload)
    async for name in services.redis.scan_iter("enclave:idem:*"):
        assert secret.encode() not in await services.redis.get(name)


@pytest.mark.skipif(EXTERNAL, reason="needs the Redis this suite started")
async def test_without_redis_idempotent_requests_are_refused(
    http: httpx.AsyncClient, eu_tenant: Tenant, stack: LocalStack | None, settings: Settings
) -> None:
    assert stack is not None
    payload = {"query": CREATE_EMPLOYEE, "variables": {"input": employee_input()}}
    before = await _count(settings, eu_tenant)
    stack.redis.stop()
    try:
        refused = await _post(http, eu_tenant, f"down-{uuid.uuid4()}", payload)
        plain = await _post(http, eu_tenant, None, payload)
    finally:
        stack.redis.start()
    assert refused.status_code == 503
    assert refused.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
    assert "errors" not in plain.json()
    assert await _count(settings, eu_tenant) == (before[0] + 1, before[1] + 1)


async def test_reads_are_never_replayed_and_changed_permissions_stop_a_replay(
    http: httpx.AsyncClient, services: Any
) -> None:
    from tests.support.client import GraphQLClient, make_tenant
    from tests.support.roles import make_user

    tenant = await make_tenant(services, "DE", "Idem Org")
    admin = GraphQLClient(http, tenant.token)
    other, user = await make_user(
        admin, services, tenant, f"{uuid.uuid4().hex[:6]}@x.example", ["admin"]
    )
    read = {"query": "{ users { id } }"}
    key = f"read-{uuid.uuid4()}"
    for _ in range(2):
        response = await http.post(
            "/graphql",
            json=read,
            headers={"authorization": f"Bearer {other.token}", "idempotency-key": key},
        )
        assert "idempotent-replayed" not in response.headers
    payload = {"query": CREATE_EMPLOYEE, "variables": {"input": employee_input()}}
    write_key = f"write-{uuid.uuid4()}"
    headers = {"authorization": f"Bearer {other.token}", "idempotency-key": write_key}
    assert "errors" not in (await http.post("/graphql", json=payload, headers=headers)).json()
    await admin.ok(
        "mutation($id: ID!) { updateUser(id: $id, expectedVersion: 1, roles: []) { id } }",
        {"id": user["id"]},
    )
    replay = await http.post("/graphql", json=payload, headers=headers)
    assert replay.json()["errors"][0]["extensions"]["code"] == "CONFLICT"
