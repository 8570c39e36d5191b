"""A role change on one gateway process is in force on every other process: through Redis
pub/sub while Redis is up, and through the policy version recheck while it is down.

Two real ``enclave serve`` processes share the session's FerretDB servers and Redis. Tests
assert no timings: each waits for the change by polling the other gateway every 50 ms for at
most ``POLL_LIMIT`` seconds, far less than the 30 s version recheck a process with a healthy
subscription does, and prints how long the change took to arrive.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from redis.exceptions import RedisError

from gateway.dev.processes import ChildProcess
from gateway.dev.servers import LocalStack
from gateway.services import Services
from gateway.settings import Settings
from resolvers.authz.policycache import CHANNEL
from tests.support.client import GraphQLClient, make_tenant
from tests.support.employees import create_employee
from tests.support.gateways import gateway_env, running_gateways
from tests.support.servers import EXTERNAL

#: How often, and for how long at most, the other gateway is asked whether a change arrived.
POLL_INTERVAL = 0.05
POLL_LIMIT = 10.0
#: The version recheck interval while Redis is up is 30 s (``healthy_recheck_seconds``);
#: with this one too, only pub/sub can bring a change within ``POLL_LIMIT``.
SLOW_RECHECK = "30"
#: Without Redis, the recheck alone bounds staleness: this interval plus one request.
FAST_RECHECK = "1"

READ_SALARY = "{ employees(first: 5) { nodes { id salary } } }"
READ_NAMES = "{ employees(first: 5) { nodes { id firstName lastName } } }"
CREATE_ROLE = "mutation($input: RoleInput!) { createRole(input: $input) { name version } }"
UPDATE_ROLE = """
mutation($v: Int!, $input: RoleInput!) {
  updateRole(expectedVersion: $v, input: $input) { name version }
}
"""
CREATE_USER = (
    'mutation($email: String!) { createUser(email: $email, roles: ["reader"]) { id version } }'
)

WITH_SALARY: dict[str, Any] = {
    "name": "reader",
    "sheets": [{"datasheet": "employees", "read": ["firstName", "lastName", "salary"]}],
}
WITHOUT_SALARY: dict[str, Any] = {
    "name": "reader",
    "sheets": [{"datasheet": "employees", "read": ["firstName", "lastName"]}],
}

Outcome = Literal["allowed", "forbidden"]


# -- gateways -------------------------------------------------------------------------------


def _pair(settings: Settings, logs: Path, recheck: str) -> Iterator[list[ChildProcess]]:
    env = gateway_env(settings, ENCLAVE_POLICY_RECHECK_SECONDS=recheck)
    with running_gateways(["a", "b"], env, logs) as gateways:
        yield gateways


@pytest.fixture
def pubsub_pair(settings: Settings, tmp_path: Path) -> Iterator[list[ChildProcess]]:
    """Two gateways that recheck policy versions only every 30 s."""
    yield from _pair(settings, tmp_path, SLOW_RECHECK)


@pytest.fixture(scope="module")
def recheck_pair(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ChildProcess]]:
    """Two gateways that, without Redis, recheck policy versions every second (shared by
    the tests that stop Redis; each works in a tenant of its own)."""
    yield from _pair(settings, tmp_path_factory.mktemp("recheck-gateways"), FAST_RECHECK)


@dataclass(frozen=True)
class Actors:
    """One new tenant on both gateways: its admin, and a user holding only ``reader``."""

    admin_a: GraphQLClient
    admin_b: GraphQLClient
    reader_a: GraphQLClient
    reader_b: GraphQLClient


@asynccontextmanager
async def _actors(
    services: Services, gateways: list[ChildProcess], name: str
) -> AsyncIterator[Actors]:
    """A tenant with an employee, the role ``reader`` (names and salary) at version 1 and a
    user holding it, on gateways A and B, whose caches both hold the reader's policy."""
    tenant = await make_tenant(services, "DE", name)
    await _wait_for_subscribers(services, 2)
    a, b = gateways
    async with (
        httpx.AsyncClient(base_url=a.url, timeout=30.0) as http_a,
        httpx.AsyncClient(base_url=b.url, timeout=30.0) as http_b,
    ):
        admin_a = GraphQLClient(http_a, tenant.token)
        await create_employee(admin_a)
        role = (await admin_a.ok(CREATE_ROLE, {"input": WITH_SALARY}))["createRole"]
        assert role == {"name": "reader", "version": 1}
        email = f"reader-{uuid.uuid4().hex[:8]}@example.com"
        user = (await admin_a.ok(CREATE_USER, {"email": email}))["createUser"]
        token = services.tokens.issue(tenant.id, user["id"], ["reader"])
        actors = Actors(
            admin_a,
            GraphQLClient(http_b, tenant.token),
            GraphQLClient(http_a, token),
            GraphQLClient(http_b, token),
        )
        assert await _outcome(actors.reader_b) == "allowed"
        assert await _outcome(actors.reader_a) == "allowed"
        yield actors


@contextmanager
def _redis_down(stack: LocalStack | None) -> Iterator[None]:
    """Redis stopped for the block, and started again on the same port however it ends."""
    assert stack is not None
    stack.redis.stop()
    try:
        yield
    finally:
        stack.redis.start()


# -- steps ----------------------------------------------------------------------------------


async def _wait_for_subscribers(services: Services, count: int) -> None:
    """Until *count* processes listen on the policy channel (the gateways subscribe in the
    background after start-up, and again after Redis comes back)."""
    deadline = time.monotonic() + POLL_LIMIT
    while True:
        try:
            subscribed = dict(await services.redis.pubsub_numsub(CHANNEL))
        except RedisError:  # a connection of the pool that Redis closed while it was down
            subscribed = {}
        if subscribed.get(CHANNEL.encode(), 0) >= count:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"fewer than {count} subscribers on {CHANNEL}: {subscribed}")
        await asyncio.sleep(POLL_INTERVAL)


async def _update_role(admin: GraphQLClient, expected: int, definition: dict[str, Any]) -> None:
    started = time.monotonic()
    data = await admin.ok(UPDATE_ROLE, {"v": expected, "input": definition})
    assert data["updateRole"] == {"name": "reader", "version": expected + 1}
    print(f"\nupdateRole to version {expected + 1}: {(time.monotonic() - started) * 1000:.0f} ms")


async def _outcome(reader: GraphQLClient) -> Outcome:
    """Whether the reader may read salaries; anything but those two answers fails the test."""
    body = await reader(READ_SALARY)
    if "errors" not in body:
        nodes = body["data"]["employees"]["nodes"]
        assert nodes and all(isinstance(n["salary"], int) for n in nodes), body
        return "allowed"
    codes = {e.get("extensions", {}).get("code") for e in body["errors"]}
    assert codes == {"FORBIDDEN"}, body
    assert body.get("data") is None, body
    return "forbidden"


async def _keep_serving(act: Actors, seconds: float) -> None:
    """Ask both gateways as the reader, at least once and for *seconds*: always allowed."""
    until = time.monotonic() + seconds
    while True:
        assert await _outcome(act.reader_a) == "allowed"
        assert await _outcome(act.reader_b) == "allowed"
        if time.monotonic() >= until:
            return
        await asyncio.sleep(POLL_INTERVAL)


async def _wait_for(
    reader: GraphQLClient, want: Outcome, label: str, limit: float = POLL_LIMIT
) -> None:
    """Poll until the reader's answer is *want*; fail after *limit* seconds."""
    started = time.monotonic()
    polls = 0
    while True:
        polls += 1
        got = await _outcome(reader)
        elapsed = time.monotonic() - started
        if got == want:
            print(f"\n{label}: {want} after {elapsed * 1000:.0f} ms ({polls} polls)")
            return
        if elapsed > limit:
            pytest.fail(f"{label}: still {got} after {polls} polls over {limit:.0f}s")
        await asyncio.sleep(POLL_INTERVAL)


# -- tests ----------------------------------------------------------------------------------

needs_own_redis = pytest.mark.skipif(EXTERNAL, reason="stops the Redis this test suite started")


async def test_role_change_reaches_the_other_gateway_through_pubsub(
    services: Services, pubsub_pair: list[ChildProcess]
) -> None:
    async with _actors(services, pubsub_pair, "Pubsub Org") as act:
        await _update_role(act.admin_a, 1, WITHOUT_SALARY)
        assert await _outcome(act.reader_a) == "forbidden"  # where it changed: at once
        await _wait_for(act.reader_b, "forbidden", "pub/sub, revoke on A seen on B")
        assert len((await act.reader_b.ok(READ_NAMES))["employees"]["nodes"]) == 1

        # And back: a grant on B reaches A, whose cache now holds the narrower policy.
        await _update_role(act.admin_b, 2, WITH_SALARY)
        assert await _outcome(act.reader_b) == "allowed"
        await _wait_for(act.reader_a, "allowed", "pub/sub, grant on B seen on A")


@needs_own_redis
async def test_without_redis_the_version_recheck_bounds_staleness(
    services: Services, stack: LocalStack | None, recheck_pair: list[ChildProcess]
) -> None:
    async with _actors(services, recheck_pair, "Recheck Org") as act:
        with _redis_down(stack):
            ready = await act.admin_b.http.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["redis"] == "unavailable"
            # Both keep serving. Asked for longer than the recheck interval, both have
            # re-read the policy version since losing the subscription, so what follows
            # shows the interval, not that first re-read.
            await _keep_serving(act, float(FAST_RECHECK) + 0.5)

            # The change is written although it cannot be announced.
            await _update_role(act.admin_a, 1, WITHOUT_SALARY)
            assert await _outcome(act.reader_a) == "forbidden"
            await _wait_for(act.reader_b, "forbidden", "no Redis, revoke on A seen on B")

            # Both keep serving reads and writes.
            assert len((await act.reader_b.ok(READ_NAMES))["employees"]["nodes"]) == 1
            await create_employee(act.admin_b)
            assert len((await act.reader_a.ok(READ_NAMES))["employees"]["nodes"]) == 2

            await _update_role(act.admin_b, 2, WITH_SALARY)
            assert await _outcome(act.reader_b) == "allowed"
            await _wait_for(act.reader_a, "allowed", "no Redis, grant on B seen on A")
        # Both listeners subscribe again by themselves.
        await _wait_for_subscribers(services, 2)


@needs_own_redis
async def test_a_change_made_without_redis_is_seen_once_redis_is_back(
    services: Services, stack: LocalStack | None, recheck_pair: list[ChildProcess]
) -> None:
    """Subscribing again must not trust the cache: a change announced to nobody while
    Redis was down is re-read, not left for the 30 s healthy recheck."""
    async with _actors(services, recheck_pair, "Comeback Org") as act:
        with _redis_down(stack):
            await _keep_serving(act, float(FAST_RECHECK) + 0.5)
            await _update_role(act.admin_a, 1, WITHOUT_SALARY)
        # B re-read the version just before the change; now it listens again, and the
        # announcement of the change was lost with Redis.
        await _wait_for_subscribers(services, 2)
        await _wait_for(act.reader_b, "forbidden", "Redis back, outage change seen on B")


@needs_own_redis
async def test_pubsub_carries_changes_again_after_redis_restarts(
    services: Services, stack: LocalStack | None, recheck_pair: list[ChildProcess]
) -> None:
    """The first announcement after a Redis restart must not be lost on a pooled
    connection that Redis closed when it stopped."""
    async with _actors(services, recheck_pair, "Restart Org") as act:
        with _redis_down(stack):
            await _keep_serving(act, float(FAST_RECHECK) + 0.5)
        await _wait_for_subscribers(services, 2)
        # Both re-read the version now that they listen again; from here only pub/sub can
        # bring a change within POLL_LIMIT (the healthy recheck is every 30 s).
        await _keep_serving(act, 0.0)
        await _update_role(act.admin_a, 1, WITHOUT_SALARY)
        await _wait_for(act.reader_b, "forbidden", "Redis back, revoke on A seen on B")
