"""Faults under load: two gateway processes serve the mixed workload of ``bench.support.workload``
over tenants of both regions while a region's server, Redis, or a gateway goes away.

- EU's server stopped, then started: US tenants see no error at all; EU tenants get only
  ``REGION_UNAVAILABLE`` while it is down (requests carry sign-in session tokens, whose
  session is looked up in the tenant's region on every request) and are served again
  afterwards by the same gateway processes; ``/readyz`` names the region that is down.
- Redis stopped, then started: nothing fails (rate limits fail open, policies are
  re-read), ``/readyz`` names Redis, and what needs Redis works again afterwards.
- One gateway killed with SIGKILL: the other serves on without an error.

Afterwards every acknowledged mutation is stored and audited as committed, and once the
intents the faults interrupted are settled, none is left without an outcome
(``bench.support.verify``). These tests run on servers of their own (a second ``LocalStack``), so
stopping one breaks no other test. Every wait is bounded; no timing is asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from bench.support.cluster import NO_RATE_LIMITS, make_tenants
from bench.support.verify import verify_acknowledged
from bench.support.workload import LoadResult, LoadTenant, Outcome, run_workload
from gateway.dev.processes import ChildProcess
from gateway.dev.servers import LocalStack
from gateway.services import Services
from gateway.settings import Settings
from storage.mongo.writes import LEASE
from storage.values import Actor
from tests.support.gateways import gateway_env, running_gateways
from tests.support.servers import EXTERNAL
from tests.support.signins import PASSWORD

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(EXTERNAL, reason="needs the local server binaries this suite runs"),
]

WORKERS = 6
#: How long to wait for any one thing to happen (a fault to show, a recovery).
WAIT = 45.0
#: Requests of the unaffected side that must pass while a fault lasts.
DURING = 12


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = LocalStack.create(tmp_path_factory.mktemp("faults"))
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def fault_settings(fault_stack: LocalStack, settings: Settings) -> Settings:
    def region(name: str) -> object:
        config = settings.eu if name == "eu" else settings.us
        return config.model_copy(update={"mongodb_uri": SecretStr(fault_stack.uri(name))})

    return settings.model_copy(
        update={
            "eu": region("eu"),
            "us": region("us"),
            "redis_url": SecretStr(fault_stack.redis_url),
        }
    )


@pytest.fixture(scope="module")
async def fault_services(fault_settings: Settings) -> AsyncIterator[Services]:
    services = Services.from_settings(fault_settings)
    try:
        yield services
    finally:
        await services.aclose()


@pytest.fixture(scope="module")
async def tenants(fault_services: Services) -> list[LoadTenant]:
    """Tenants whose admins signed in: the load runs on real session tokens (the production
    default, each request looks its session up in the tenant's region), not minted ones."""
    signed_in = []
    for tenant in await make_tenants(fault_services, 2):
        store = fault_services.store.for_tenant(tenant.id)
        admin = await store.users.get(tenant.admin)
        assert admin is not None
        password = await fault_services.signin.check_password("eu_faults", PASSWORD)
        await store.credentials.set_password_hash(
            admin.id, password, Actor("tests", kind="operator")
        )
        tokens, _ = await fault_services.signin.login(tenant.id, admin.email, PASSWORD, None)
        signed_in.append(replace(tenant, token=tokens.access))
    return signed_in


def _env(settings: Settings) -> dict[str, str]:
    return gateway_env(settings, **NO_RATE_LIMITS, ENCLAVE_SESSIONLESS_TOKENS="false")


@pytest.fixture(scope="module")
def pair(
    fault_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ChildProcess]]:
    """Two gateways that outlive a server's outage: the region and Redis tests share them."""
    logs = tmp_path_factory.mktemp("fault-gateways")
    with running_gateways(["a", "b"], _env(fault_settings), logs) as gateways:
        yield gateways


async def _until(what: str, done: Callable[[], bool | Awaitable[bool]]) -> None:
    deadline = time.monotonic() + WAIT
    while True:
        result = done()
        if await result if isinstance(result, Awaitable) else result:
            return
        assert time.monotonic() < deadline, f"still waiting for: {what}"
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def _clients(gateways: Sequence[ChildProcess]) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(httpx.AsyncClient(base_url=g.url, timeout=WAIT))
            for g in gateways
        ]


async def _under_load(
    gateways: Sequence[ChildProcess],
    tenants: Sequence[LoadTenant],
    fault: Callable[[LoadResult], Awaitable[None]],
) -> LoadResult:
    """Run the workload over *gateways*, let it warm up, run *fault* while it goes on (it
    gets the result the workload fills in, to wait on), then stop the workload."""
    stop, result = asyncio.Event(), LoadResult()
    async with _clients(gateways) as clients:
        load = asyncio.create_task(
            run_workload(
                clients,
                tenants,
                seconds=WAIT * 4,
                workers=WORKERS,
                seed=8,
                stop=stop,
                result=result,
            )
        )
        try:
            await _until("the load to start", lambda: len(result.outcomes) >= 20)
            await fault(result)
        finally:
            stop.set()
        return await load


def _since(result: LoadResult, at: float, **match: object) -> list[Outcome]:
    return [
        o
        for o in list(result.outcomes)
        if o.at >= at and all(getattr(o, k) == v for k, v in match.items())
    ]


def _any_ok(result: LoadResult, at: float, **match: object) -> Callable[[], bool]:
    return lambda: any(o.ok for o in _since(result, at, **match))


def _at_least(count: int, result: LoadResult, at: float, **match: object) -> Callable[[], bool]:
    return lambda: len(_since(result, at, **match)) >= count


async def _ready(gateway: ChildProcess) -> tuple[int, dict[str, str]]:
    async with httpx.AsyncClient(timeout=WAIT) as client:
        response = await client.get(f"{gateway.url}/readyz")
    checks: dict[str, str] = response.json()["checks"]
    return response.status_code, checks


async def _settle_and_verify(services: Services, result: LoadResult) -> None:
    """Settle what the fault interrupted (past every lease: no writer is left), then check
    every acknowledged mutation."""
    for tenant in {a.tenant for a in result.acked}:
        await services.store.for_tenant(tenant).audit.reconcile(older_than=-(LEASE + LEASE))
    assert await verify_acknowledged(services, result.acked) == []


async def test_a_region_down_under_load(
    fault_stack: LocalStack,
    fault_services: Services,
    tenants: list[LoadTenant],
    pair: list[ChildProcess],
) -> None:
    marks: dict[str, float] = {}

    async def fault(result: LoadResult) -> None:
        fault_stack.eu.stop()
        marks["down"] = time.monotonic()
        try:
            await _until(
                "EU tenants to see the outage",
                lambda: any("REGION_UNAVAILABLE" in o.codes for o in _since(result, marks["down"])),
            )
            await _until(
                "US tenants to be served during the outage",
                lambda: len(_since(result, marks["down"], region="us")) >= DURING,
            )
            assert await _ready(gateways[0]) == (
                503,
                {"region:eu": "unavailable", "region:us": "ok", "redis": "ok"},
            )
        finally:
            fault_stack.eu.start()
        marks["up"] = time.monotonic()
        for kind in ("read", "write"):
            await _until(
                f"EU {kind}s to be served again",
                _any_ok(result, marks["up"], region="eu", kind=kind),
            )

    gateways = pair
    pids = [g.process.pid for g in gateways if g.process is not None]
    result = await _under_load(gateways, tenants, fault)
    assert [g.process.pid for g in gateways if g.process is not None] == pids  # no restart

    us = [o for o in result.outcomes if o.region == "us"]
    eu = [o for o in result.outcomes if o.region == "eu"]
    assert us and all(o.ok for o in us), {(o.status, o.codes) for o in us if not o.ok}
    failed = [o for o in eu if not o.ok]
    assert failed, "no EU request saw the outage"
    assert all(o.status in (200, 503) and set(o.codes) == {"REGION_UNAVAILABLE"} for o in failed)
    assert not result.server_errors() or {o.status for o in result.server_errors()} == {503}
    await _settle_and_verify(fault_services, result)


async def test_redis_down_under_load(
    fault_stack: LocalStack,
    fault_services: Services,
    tenants: list[LoadTenant],
    pair: list[ChildProcess],
) -> None:
    gateways = pair

    async def fault(result: LoadResult) -> None:
        fault_stack.redis.stop()
        down = time.monotonic()
        try:
            for region in ("eu", "us"):
                await _until(
                    f"{region} requests while Redis is down",
                    _at_least(DURING, result, down, region=region),
                )
            assert await _ready(gateways[1]) == (
                503,
                {"region:eu": "ok", "region:us": "ok", "redis": "unavailable"},
            )
        finally:
            fault_stack.redis.start()
        # Idempotent retries need Redis (503 without it): each gateway has it back.
        for gateway in gateways:
            await _until(
                f"{gateway.name} to use Redis again", functools.partial(_idempotent, gateway)
            )

    async def _idempotent(gateway: ChildProcess) -> bool:
        tenant = tenants[0]
        async with httpx.AsyncClient(base_url=gateway.url, timeout=WAIT) as client:
            response = await client.post(
                "/graphql",
                json={
                    "query": "mutation($n: String!) { createRole(input: {name: $n, sheets: []}) "
                    "{ name } }",
                    "variables": {"n": f"back-{gateway.name}"},
                },
                headers={
                    "authorization": f"Bearer {tenant.token}",
                    "idempotency-key": f"redis-back-{gateway.name}",
                },
            )
        return response.status_code == 200 and "errors" not in response.json()

    result = await _under_load(gateways, tenants, fault)

    bad = [o for o in result.outcomes if not o.ok]
    assert not bad, {(o.status, o.codes) for o in bad}
    await _settle_and_verify(fault_services, result)


async def test_a_gateway_killed_under_load(
    fault_settings: Settings,
    fault_services: Services,
    tenants: list[LoadTenant],
    tmp_path: Path,
) -> None:
    marks: dict[str, float] = {}

    async def fault(result: LoadResult) -> None:
        gateways[0].kill()
        marks["killed"] = time.monotonic()
        await _until(
            "the other gateway to serve on",
            lambda: len(_since(result, marks["killed"], gateway=1)) >= DURING,
        )

    with running_gateways(["e", "f"], _env(fault_settings), tmp_path) as gateways:
        result = await _under_load(gateways, tenants, fault)

    survivor = [o for o in result.outcomes if o.gateway == 1]
    assert survivor and all(o.ok for o in survivor), {(o.status, o.codes) for o in survivor}
    dead = _since(result, marks["killed"], gateway=0)
    assert dead and all(o.status is None for o in dead)  # refused, never a wrong answer
    before = [o for o in result.outcomes if o.gateway == 0 and o not in dead]
    assert all(o.ok or o.status is None for o in before)
    await _settle_and_verify(fault_services, result)
