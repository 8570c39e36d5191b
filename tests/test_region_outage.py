"""One region's server down: its tenants get REGION_UNAVAILABLE quickly, the other region's
tenants keep working, and the region recovers by itself when the server is back."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import pkgutil
import time

import httpx
import pytest

import storage.mongo
from gateway.app import create_app
from gateway.dev.servers import LocalStack
from gateway.services import Services
from gateway.settings import Settings
from storage.mongo.credentials import MongoCredentials
from storage.mongo.errors import MapsDriverErrors, maps_driver_errors
from storage.mongo.operations import MongoOperations
from storage.mongo.store import MongoStore
from tests.support.client import GraphQLClient, make_tenant
from tests.support.employees import create_employee, until_region_back
from tests.support.servers import EXTERNAL
from tests.support.signins import REFRESH, anonymous, login, new_user

pytestmark = pytest.mark.skipif(EXTERNAL, reason="needs servers this test suite started")

LIST = "{ employees(first: 5) { nodes { id firstName } } }"


def test_every_method_of_every_mongodb_store_maps_driver_errors() -> None:
    # The outage tests reach some methods; this checks all of them, new ones included.
    for info in pkgutil.iter_modules(storage.mongo.__path__):
        importlib.import_module(f"storage.mongo.{info.name}")
    classes = _subclasses(MapsDriverErrors)
    assert {MongoCredentials, MongoOperations, MongoStore} <= classes
    for cls in classes:
        methods = [
            method
            for name, method in vars(cls).items()
            if not name.startswith("_")
            and (inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method))
        ]
        assert all(maps_driver_errors(m) for m in methods), cls


def _subclasses(cls: type) -> set[type]:
    subs: list[type] = cls.__subclasses__()
    return {c for sub in subs for c in (sub, *_subclasses(sub))}


def test_regions_give_up_in_seconds_not_the_drivers_30(services: Services) -> None:
    # How quickly REGION_UNAVAILABLE comes is the driver's server selection timeout; tests
    # assert no timings, so check the setting every region client is built with.
    for region in MongoStore.of(services.store).registry.values():
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
    await until_region_back(services)


async def test_with_sign_in_sessions_an_outage_is_region_unavailable_not_a_500(
    stack: LocalStack | None, settings: Settings, http: httpx.AsyncClient, services: Services
) -> None:
    """The production default: built-in tokens need a live session, looked up per request in
    the tenant's region. With EU down, EU sessions get REGION_UNAVAILABLE (never a driver
    error), sign-in and refresh too, and US sessions are served."""
    assert stack is not None
    eu_tenant, us_tenant = await make_tenant(services, "DE"), await make_tenant(services, "US")
    eu_email, us_email = await new_user(http, eu_tenant), await new_user(http, us_tenant)
    strict = create_app(settings.model_copy(update={"sessionless_tokens": False}), background=False)
    async with strict.router.lifespan_context(strict):
        transport = httpx.ASGITransport(app=strict, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            eu_session = (await login(client, eu_tenant, eu_email)).json()["data"]["login"]
            us_session = (await login(client, us_tenant, us_email)).json()["data"]["login"]
            eu, us = (GraphQLClient(client, s["accessToken"]) for s in (eu_session, us_session))
            assert "employees" in await eu.ok(LIST)
            stack.eu.stop()
            try:
                for answer in (
                    (await eu.raw(LIST)).json(),
                    (await eu.raw("{ me { id } }")).json(),
                    (await login(client, eu_tenant, eu_email)).json(),
                    (await anonymous(client, REFRESH, {"r": eu_session["refreshToken"]})).json(),
                ):
                    assert answer["errors"][0]["extensions"] == {
                        "code": "REGION_UNAVAILABLE",
                        "region": "eu",
                    }
                assert "employees" in await us.ok(LIST)
                assert (await login(client, us_tenant, us_email)).status_code == 200
            finally:
                stack.eu.start()
            await until_region_back(services)
