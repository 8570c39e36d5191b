"""Every contract method with its region's server stopped (EU's, then US's):
``RegionUnavailableError`` naming the region, never a driver exception (``PyMongoError``,
``EncryptionError``, ``RedisError``) nor a bare ``EnclaveError``. The few methods that need
no server by design return normally instead (each case says why): answering with the
server down, and a store with no server at all, shows they touch no network.

The calls run once per outage, concurrently (each waits out the driver's server selection,
half a second at least), and each test checks its own call's outcome."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from gateway.dev.processes import free_port
from regions.countries import RegionName
from schema.errors import EnclaveError, RegionUnavailableError
from tests.contract.backends import Backend, OwnServers
from tests.contract.outage import Outage, Prepared
from tests.contract.outage_case import Case
from tests.contract.outage_store_cases import STORE_CASES
from tests.contract.outage_tenant_cases import TENANT_CASES

CASES = [*TENANT_CASES, *STORE_CASES]


async def _outcome(case: Case, outage: Outage) -> Any:
    """What the call returned, or the exception it raised."""
    try:
        result = case.call(outage)
        return await result if inspect.isawaitable(result) else result
    except Exception as exc:
        return exc


@pytest.fixture(scope="module")
async def outcomes(outage: Outage) -> dict[str, Any]:
    results = await asyncio.gather(*(_outcome(case, outage) for case in CASES))
    return {case.id: result for case, result in zip(CASES, results, strict=True)}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_with_the_region_down(case: Case, outage: Outage, outcomes: dict[str, Any]) -> None:
    result = outcomes[case.id]
    if isinstance(result, RegionUnavailableError):
        assert case.no_io is None, f"{case.id} needs no server ({case.no_io}) but raised {result!r}"
        assert result.extensions == {"code": "REGION_UNAVAILABLE", "region": outage.region}
        return
    if isinstance(result, EnclaveError):
        pytest.fail(f"{case.id} raised {type(result).__name__}({result}), not RegionUnavailable")
    if isinstance(result, Exception):
        kind = f"{type(result).__module__}.{type(result).__qualname__}"
        pytest.fail(f"{case.id} let {kind} through: {result}")
    if case.no_io is None and case.check is None:
        pytest.fail(f"{case.id} returned {result!r} with the region's server down")
    assert case.check is None or case.check(outage, result), f"{case.id} returned {result!r}"


@pytest.fixture(scope="module")
async def nowhere(
    prepared: dict[RegionName, Prepared], backend: Backend, own_servers: OwnServers
) -> AsyncIterator[Outage]:
    """The prepared tenants as seen by a store whose regions have no server at all."""
    dead = {"mongodb_uri": SecretStr(f"mongodb://127.0.0.1:{free_port()}/")}
    settings = own_servers.settings
    regions = {r: getattr(settings, r).model_copy(update=dead) for r in ("eu", "us")}
    unreachable = settings.model_copy(update=regions)
    opened = backend.open(unreachable)
    yield prepared["eu"].on(opened, lambda: backend.open(unreachable), prepared["us"].tenant)
    await opened.aclose()


NO_IO = [case for case in CASES if case.no_io is not None]


@pytest.mark.parametrize("case", NO_IO, ids=[c.id for c in NO_IO])
async def test_needs_no_server_at_all(case: Case, nowhere: Outage) -> None:
    """Answered by a store with no server in any region: it touches no network."""
    result = case.call(nowhere)
    if inspect.isawaitable(result):
        result = await result
    assert case.check is None or case.check(nowhere, result), f"{case.id} returned {result!r}"


async def test_the_other_region_keeps_working(outage: Outage) -> None:
    other = outage.other
    await outage.store.ping(other.region)
    assert [t.id for t in await outage.store.list_tenants(other.region)].count(other.id) == 1
    assert len(await outage.other_handle.users.all()) == 2  # its admin and one more
