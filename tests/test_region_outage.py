"""One region's server down: its tenants get REGION_UNAVAILABLE quickly, the other region's
tenants keep working, and the region recovers by itself when the server is back."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.devservers import LocalStack
from gateway.services import Services
from schema.errors import RegionUnavailableError
from tests.conftest import EXTERNAL, GraphQLClient
from tests.helpers import create_employee

pytestmark = pytest.mark.skipif(EXTERNAL, reason="needs servers this test suite started")

LIST = "{ employees(first: 5) { nodes { id firstName } } }"


def test_regions_give_up_in_seconds_not_the_drivers_30(services: Services) -> None:
    # How quickly REGION_UNAVAILABLE comes is the driver's server selection timeout; tests
    # assert no timings, so check the setting every region client is built with.
    for region in services.store.regions.values():
        for client in (region.data, region.plain):
            assert client.options.server_selection_timeout <= 2.0


async def test_one_region_down_the_other_keeps_working(
    eu: GraphQLClient, us: GraphQLClient, stack: LocalStack | None, services: Services
) -> None:
    assert stack is not None
    eu_rec = await create_employee(eu)
    await create_employee(us)
    stack.eu.stop()
    try:
        body = await eu(LIST)
        assert body["data"] is None
        assert body["errors"][0]["extensions"] == {"code": "REGION_UNAVAILABLE", "region": "eu"}
        write = await eu(
            'mutation { createContact(input: {firstName: "a", lastName: "b", kind: OTHER}) { id } }'
        )
        assert write["errors"][0]["extensions"]["code"] == "REGION_UNAVAILABLE"
        assert "a" not in write["errors"][0]["message"].split()
        assert len((await us.ok(LIST))["employees"]["nodes"]) >= 1
        await create_employee(us)
    finally:
        stack.eu.start()
    # Back without restarting the gateway.
    deadline = time.monotonic() + 30
    while True:
        body = await eu(f'{{ employee(id: "{eu_rec["id"]}") {{ id firstName }} }}')
        if "errors" not in body or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert body["data"]["employee"] == {"id": eu_rec["id"], "firstName": eu_rec["firstName"]}
    # Other clients of the session (the tests' own) drop their dead pooled connections too.
    for _ in range(5):
        try:
            await services.store.ping("eu")
            break
        except RegionUnavailableError:
            await asyncio.sleep(0.2)
