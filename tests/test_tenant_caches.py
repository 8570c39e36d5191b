"""Every per-tenant cache of a gateway is bounded (``ENCLAVE_TENANT_CACHE_SIZE``), its size
is in ``/metrics``, and a tenant it forgot is served as before: same answers, same
permissions, audit still sealed and verified."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.services import Services
from gateway.settings import Settings
from storage.caches import KeyedLocks
from tests.support.client import GraphQLClient, Tenant, asgi_client, make_tenant
from tests.support.employees import create_employee
from tests.support.roles import CREATE_API_KEY, make_role, make_user

BOUND = 3
#: The caches kept per tenant, each bounded by ENCLAVE_TENANT_CACHE_SIZE.
PER_TENANT = (
    "tenants",
    "policies",
    "allow_list_modes",
    "api_key_uses",
    "audit_heads",
    "audit_next_sequence",
    "audit_settled",
    "data_key_ids_eu",
    "data_key_ids_us",
)
#: Those every request below fills, so they must be full (at the bound) at the end.
FILLED = ("tenants", "policies", "allow_list_modes", "api_key_uses", "audit_heads")
READ = "{ employees(first: 10) { nodes { lastName } } }"
SALARY = "{ employees(first: 10) { nodes { salary } } }"
VERIFY = "{ auditVerify { ok } }"


@dataclass
class Touched:
    tenant: Tenant
    region: str
    admin: GraphQLClient
    reader: GraphQLClient
    key: str
    last_name: str


@pytest.fixture
async def bounded(settings: Settings) -> AsyncIterator[Starlette]:
    app = create_app(settings.model_copy(update={"tenant_cache_size": BOUND}), background=False)
    async with app.router.lifespan_context(app):
        yield app


async def _caches(http: httpx.AsyncClient) -> dict[str, tuple[float, float]]:
    """Each cache's (entries, bound), as scraped."""
    text = (await http.get("/metrics")).text
    found: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in ("enclave_cache_entries", "enclave_cache_max_entries"):
                found.setdefault(sample.labels["cache"], {})[sample.name] = sample.value
    return {
        name: (v["enclave_cache_entries"], v["enclave_cache_max_entries"])
        for name, v in found.items()
    }


async def _touch(http: httpx.AsyncClient, services: Services, number: int) -> Touched:
    country, region = ("DE", "eu") if number % 2 else ("US", "us")
    tenant = await make_tenant(services, country, f"Cached {number}")
    admin = GraphQLClient(http, tenant.token)
    record = await create_employee(admin)
    await make_role(admin, "reader", read=["lastName"])
    reader, _ = await make_user(admin, services, tenant, "reader@example.com", ["reader"])
    key = (await admin.ok(CREATE_API_KEY, {"role": "reader"}))["createApiKey"]["key"]
    touched = Touched(tenant, region, admin, reader, key, record["lastName"])
    await _check(http, services, touched)
    return touched


async def _check(http: httpx.AsyncClient, services: Services, touched: Touched) -> None:
    """The tenant's own record only, what each role may see and no more, its audit sealed
    and verified."""
    expected = [{"lastName": touched.last_name}]
    assert (await touched.reader.ok(READ))["employees"]["nodes"] == expected
    refused = await touched.reader(SALARY)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    by_key = await http.post("/graphql", json={"query": READ}, headers={"x-api-key": touched.key})
    assert by_key.json()["data"]["employees"]["nodes"] == expected
    key = services.settings.seal_key()
    assert await services.seal_tenant(touched.tenant.id, touched.region, key) >= 0
    assert (await touched.admin.ok(VERIFY))["auditVerify"]["ok"] is True


async def test_caches_stay_within_their_bound_and_forgotten_tenants_work(
    bounded: Starlette,
) -> None:
    services: Services = bounded.state.services
    async with asgi_client(bounded) as http:
        before = await _caches(http)
        for name in PER_TENANT:
            assert before[name][1] == BOUND, name
        touched = []
        for number in range(2 * BOUND + 2):
            touched.append(await _touch(http, services, number))
            for name, (entries, bound) in (await _caches(http)).items():
                assert entries <= bound, name
        caches = await _caches(http)
        for name in FILLED:
            assert caches[name][0] == BOUND, name
        assert caches["data_key_ids_eu"][0] == caches["data_key_ids_us"][0] == BOUND

        # The first tenants were forgotten by every per-tenant cache: served as before.
        first = touched[0]
        assert first.tenant.id not in services.tenants.entries
        assert first.tenant.id not in services.policies.tenants
        for again in touched[:2]:
            await _check(http, services, again)
            record = await create_employee(again.admin)  # the next audit sequence number
            names = {n["lastName"] for n in (await again.reader.ok(READ))["employees"]["nodes"]}
            assert names == {again.last_name, record["lastName"]}
        tampered = services.metrics.registry.get_sample_value(
            "enclave_audit_tampered_total", {"region": first.region}
        )
        assert not tampered
        for name, (entries, bound) in (await _caches(http)).items():
            assert entries <= bound, name
        assert first.tenant.id not in (await http.get("/metrics")).text


async def test_a_lock_per_key_is_shared_while_in_use_and_dropped_after() -> None:
    locks = KeyedLocks()
    order: list[str] = []

    async def turn(name: str) -> None:
        async with locks("tenant"):
            order.append(f"{name} in")
            await asyncio.sleep(0)
            order.append(f"{name} out")

    await asyncio.gather(turn("a"), turn("b"))
    assert order == ["a in", "a out", "b in", "b out"]
    assert len(locks) == 0
