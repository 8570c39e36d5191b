"""``/metrics``: requests, errors and latency per operation and region, connection pools and
the audit backlog, with no tenant data in it; behind a token when one is set."""

from __future__ import annotations

from collections.abc import Iterable

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from pydantic import SecretStr
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.settings import Settings
from tests.support.client import GraphQLClient, Tenant
from tests.support.employees import create_employee

LIST = "{ employees(first: 5) { nodes { id lastName } } }"
MISSING = '{ employee(id: "01HZZZZZZZZZZZZZZZZZZZZZZZ") { id } }'


def _samples(text: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def _value(samples: Iterable[Sample], name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


async def test_metrics_count_requests_errors_and_latency_per_operation_and_region(
    http: httpx.AsyncClient,
    app: Starlette,
    eu: GraphQLClient,
    us: GraphQLClient,
    eu_tenant: Tenant,
    us_tenant: Tenant,
) -> None:
    before = _samples((await http.get("/metrics")).text)
    record = await create_employee(eu)
    await eu.ok(LIST)
    await us.ok(LIST)
    assert (await eu(MISSING))["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert (await http.post("/graphql", json={"query": LIST})).status_code == 401
    await app.state.services.reconcile_all()

    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = _samples(response.text)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    ok = {"outcome": "ok"}
    assert grew("enclave_requests_total", operation="query:employees", region="eu", **ok) == 1
    assert grew("enclave_requests_total", operation="query:employees", region="us", **ok) == 1
    assert grew("enclave_requests_total", operation="mutation:createEmployee", region="eu") == 1
    assert grew("enclave_request_errors_total", operation="query:employee", code="NOT_FOUND") == 1
    assert grew("enclave_request_errors_total", region="none", code="http_401") == 1
    assert grew("enclave_request_duration_seconds_count", operation="query:employees") == 2
    assert _value(after, "enclave_mongo_pool_connections", region="eu", state="open") >= 1
    assert _value(after, "enclave_mongo_pool_max_size", region="us") > 0
    assert _value(after, "enclave_mongo_commands_total", region="eu", outcome="ok") > 0
    # The reconciler's pass sets the backlog of every region (nothing is pending here).
    assert {s.labels["region"] for s in after if s.name == "enclave_audit_pending_intents"} == {
        "eu",
        "us",
    }
    # No tenant data: no tenant or user id, no value, only bounded labels.
    for secret in (eu_tenant.id, us_tenant.id, eu_tenant.admin_id, record["id"]):
        assert secret not in response.text
    assert record["lastName"] not in response.text
    labels = {s.labels["operation"] for s in after if "operation" in s.labels}
    assert all(label in ("none", "invalid") or ":" in label for label in labels)


async def test_operation_labels_never_carry_client_text(
    http: httpx.AsyncClient, eu: GraphQLClient
) -> None:
    named = "query SomeonesNameHere { employees(first: 1) { nodes { id } } }"
    await eu.ok(named)
    await eu("{ nosuchfield_abc }")
    text = (await http.get("/metrics")).text
    assert "SomeonesNameHere" not in text and "nosuchfield_abc" not in text
    assert _value(_samples(text), "enclave_requests_total", operation="invalid") >= 1


async def test_metrics_behind_a_token_when_one_is_set(settings: Settings) -> None:
    guarded = create_app(
        settings.model_copy(update={"metrics_token": SecretStr("m" * 32)}), background=False
    )
    async with guarded.router.lifespan_context(guarded):
        transport = httpx.ASGITransport(app=guarded)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            refused = await client.get("/metrics")
            assert refused.status_code == 401
            assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
            wrong = await client.get("/metrics", headers={"authorization": "Bearer " + "x" * 32})
            assert wrong.status_code == 401
            allowed = await client.get("/metrics", headers={"authorization": "Bearer " + "m" * 32})
            assert allowed.status_code == 200 and "enclave_requests_in_flight" in allowed.text
            assert (await client.get("/healthz")).status_code == 200
