"""Detection rules over real servers: requests through an in-process gateway, one pass run
directly, suspected incidents in the tenant's store, and signed alerts received (after a
retry) by a loopback HTTP server."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import orjson
import pytest
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.detection import ACTIVE, Alert, Webhook, parse_secret
from gateway.dev.servers import LocalStack
from gateway.metrics import GatewayMetrics
from gateway.services import Services
from gateway.settings import Settings
from storage.incidentvalues import Compromised, DetectionThresholds
from storage.values import AccessEvent, AccessQuery, AuditQuery
from tests.support.client import GraphQLClient, Tenant, asgi_client, make_tenant
from tests.support.employees import create_employee, until_region_back
from tests.support.exports import START, download, exporter, lines
from tests.support.roles import CREATE_API_KEY, make_role, make_user
from tests.support.servers import EXTERNAL
from tests.support.signins import login
from tests.support.webhooks import Delivery, WebhookReceiver

SECRET = "whsec_" + base64.b64encode(b"detection-test-secret-32-bytes!!").decode()
THRESHOLDS = """{ detectionThresholds { readRecords readFactor baselineHours exportRecords
  refusedRequests failedSigninAccounts } }"""
SET = """mutation($i: DetectionThresholdsInput!) { setDetectionThresholds(input: $i) {
  readRecords readFactor baselineHours exportRecords refusedRequests failedSigninAccounts } }"""
READ = "{ employees(first: 100) { nodes { id lastName } } }"
DEFAULTS = {
    "readRecords": 1000,
    "readFactor": 10,
    "baselineHours": 24,
    "exportRecords": 10000,
    "refusedRequests": 50,
    "failedSigninAccounts": 20,
}


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
async def detecting(settings: Settings, receiver: WebhookReceiver) -> AsyncIterator[Starlette]:
    """A gateway whose alerts go to *receiver*; no background loops (passes run directly)."""
    configured = settings.model_copy(
        update={
            "detection_webhook_url": receiver.url,
            "detection_webhook_secret": SecretStr(SECRET),
            "detection_webhook_attempts": 3,
            "detection_webhook_backoff_seconds": 0.01,
        }
    )
    app = create_app(configured, background=False)
    # Marks of this gateway only: a pass visits the tenants these tests made, not the suite's.
    app.state.services.detector.key = f"{ACTIVE}:test:{uuid.uuid4().hex}"
    async with app.router.lifespan_context(app):
        yield app
        await app.state.services.redis.delete(app.state.services.detector.key)


@pytest.fixture
async def gw(detecting: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(detecting) as client:
        yield client


@pytest.fixture
async def tenant(services: Services) -> Tenant:
    return await make_tenant(services, "DE", "Detection Org")


@pytest.fixture
def admin(gw: httpx.AsyncClient, tenant: Tenant) -> GraphQLClient:
    return GraphQLClient(gw, tenant.token)


async def one_pass(app: Starlette, tenant: Tenant) -> list[tuple[Alert, str]]:
    """Write the queued access events (marking their tenants), then one detection pass; the
    incidents it opened for *tenant*."""
    services: Services = app.state.services
    await services.access.flush()
    opened = await services.detector.run_pass()
    return [(alert, incident) for tenant_id, alert, incident in opened if tenant_id == tenant.id]


def key(app: Starlette) -> str:
    """The Redis key of *app*'s detection marks."""
    services: Services = app.state.services
    return services.detector.key


async def scraped(gw: httpx.AsyncClient) -> str:
    return (await gw.get("/metrics")).text


async def test_thresholds_are_admins_own_validated_and_audited(
    admin: GraphQLClient, services: Services, tenant: Tenant
) -> None:
    assert (await admin.ok(THRESHOLDS))["detectionThresholds"] == DEFAULTS
    changed = await admin.ok(SET, {"i": {"readRecords": 3, "failedSigninAccounts": 7}})
    assert changed["setDetectionThresholds"] == {
        **DEFAULTS,
        "readRecords": 3,
        "failedSigninAccounts": 7,
    }
    assert (await admin.ok(THRESHOLDS))["detectionThresholds"]["readRecords"] == 3
    bad = await admin(SET, {"i": {"baselineHours": 0}})
    assert bad["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "input.baselineHours",
    }
    entries, _ = await services.store.for_tenant(tenant.id).audit.page(AuditQuery(), first=5)
    setting = next(e for e in entries if e.record == "detection")
    assert setting.actor.get("userId") == tenant.admin_id or tenant.admin_id in str(setting.actor)
    await make_role(admin, "plain", read=["lastName"])
    user, _ = await make_user(admin, services, tenant, "plain@detect.example", ["plain"])
    for document, variables in ((THRESHOLDS, None), (SET, {"i": {"readRecords": 10**6}})):
        refused = await user(document, variables)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    stored = await services.store.for_tenant(tenant.id).detection.thresholds()
    assert stored == DetectionThresholds(read_records=3, failed_signin_accounts=7)


async def test_reads_over_the_baseline_open_one_incident_and_a_signed_retried_alert(
    detecting: Starlette,
    gw: httpx.AsyncClient,
    admin: GraphQLClient,
    services: Services,
    tenant: Tenant,
    receiver: WebhookReceiver,
) -> None:
    await admin.ok(SET, {"i": {"readRecords": 3, "readFactor": 2}})
    for _ in range(6):
        await create_employee(admin)
    await make_role(admin, "reader", read=["lastName"])
    steady, steady_user = await make_user(admin, services, tenant, "steady@d.example", ["reader"])
    fresh, fresh_user = await make_user(admin, services, tenant, "fresh@d.example", ["reader"])
    # The steady reader's baseline: 10 distinct records in each of the 24 hours before.
    now = dt.datetime.now(dt.UTC)
    await services.store.for_tenant(tenant.id).access_log.append(
        [
            AccessEvent(
                at=now - dt.timedelta(hours=hours, minutes=5),
                kind="read",
                principal=steady_user["id"],
                datasheet="employees",
                fields=("lastName",),
                records=tuple(f"old-{hours}-{n}" for n in range(10)),
            )
            for hours in range(1, 25)
        ]
    )
    await steady.ok(READ)  # 6 records, under 2 x its mean of 10 an hour
    await fresh.ok(READ)  # 6 records, over 3 with no baseline
    opened = await one_pass(detecting, tenant)
    # The admin read the 6 records too, as each was created (no baseline either).
    assert sorted((a.rule, a.principal, a.observed, a.threshold) for a, _ in opened) == sorted(
        [("reads", fresh_user["id"], 6, 3), ("reads", tenant.admin_id, 6, 3)]
    )
    incident_id = next(i for a, i in opened if a.principal == fresh_user["id"])
    incident = await services.store.for_tenant(tenant.id).incidents.get(incident_id)
    assert incident is not None
    assert (incident.state, incident.origin, incident.rule) == ("suspected", "detection", "reads")
    assert incident.compromised == (Compromised("user", fresh_user["id"]),)
    assert incident.nature is not None and "6 distinct records read" in incident.nature
    assert await services.redis.zscore(key(detecting), tenant.id) is None  # visited: unmarked
    await fresh.ok(READ)
    assert await one_pass(detecting, tenant) == []  # still open: no second incident

    webhook = detecting.state.services.detector.webhook
    assert await webhook.drain() == 2
    by_id: dict[str, list[Delivery]] = {}
    for delivery in receiver.deliveries:
        by_id.setdefault(delivery.headers["webhook-id"], []).append(delivery)
    assert sorted([d.status for d in tried] for tried in by_id.values()) == [[500, 200]] * 2
    payloads = {}
    for tried in by_id.values():  # the retry is signed as the first attempt was
        for delivery in tried:
            body = StandardWebhook(SECRET).verify(delivery.body, delivery.headers)
            payloads[body["incident"]] = (body, delivery)
    payload, second = payloads[incident_id]
    assert payload == {
        "type": "enclave.detection.alert",
        "tenant": tenant.id,
        "rule": "reads",
        "incident": incident_id,
        "counts": {"observed": 6, "threshold": 3, "baseline": 0.0},
        "window": {"since": payload["window"]["since"], "until": payload["window"]["until"]},
    }
    assert fresh_user["id"] not in second.body.decode() and "@" not in second.body.decode()
    forged = {**second.headers, "webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()}
    with pytest.raises(WebhookVerificationError):
        StandardWebhook(SECRET).verify(second.body, forged)
    metrics = await scraped(gw)
    assert 'enclave_detection_alerts_total{rule="reads"} 2.0' in metrics
    assert 'enclave_detection_webhook_deliveries_total{outcome="retried"} 2.0' in metrics
    assert 'enclave_detection_webhook_deliveries_total{outcome="delivered"} 2.0' in metrics


async def test_unusual_export_volume_opens_an_incident(
    detecting: Starlette,
    gw: httpx.AsyncClient,
    admin: GraphQLClient,
    services: Services,
    tenant: Tenant,
) -> None:
    await admin.ok(SET, {"i": {"exportRecords": 3}})
    for _ in range(5):
        await create_employee(admin)
    client, user = await exporter(admin, services, tenant, "bulk", read=["lastName"], export=True)
    job = (await client.ok(START, {"sheet": "employees", "format": "NDJSON"}))["startExport"]
    assert len(lines(await download(gw, job["url"]))) == 5
    opened = await one_pass(detecting, tenant)
    assert [(a.rule, a.principal, a.observed) for a, _ in opened] == [("exports", user["id"], 5)]
    metrics = await scraped(gw)
    assert 'enclave_detection_alerts_total{rule="exports"} 1.0' in metrics


async def test_probing_is_recorded_without_values_and_opens_an_incident(
    detecting: Starlette,
    gw: httpx.AsyncClient,
    admin: GraphQLClient,
    services: Services,
    tenant: Tenant,
) -> None:
    await admin.ok(SET, {"i": {"refusedRequests": 2}})
    await make_role(admin, "prober", read=["lastName"])
    prober, user = await make_user(admin, services, tenant, "probe@d.example", ["prober"])
    created = (await admin.ok(CREATE_API_KEY, {"role": "prober"}))["createApiKey"]
    for _ in range(2):
        body = await prober("{ employees(first: 5) { nodes { salary } } }")
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await prober('{ employee(id: "01M81KTK58R9JDRYNZ7F3HPA00") { lastName } }')
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    for _ in range(3):  # an API key probing is named as the key
        response = await gw.post(
            "/graphql",
            json={"query": "{ employees(first: 5) { nodes { salary } } }"},
            headers={"x-api-key": created["key"]},
        )
        assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    opened = await one_pass(detecting, tenant)
    assert sorted((a.rule, a.principal, a.observed) for a, _ in opened) == sorted(
        [("probing", user["id"], 3), ("probing", created["apiKey"]["id"], 3)]
    )
    events, _ = await services.store.for_tenant(tenant.id).access_log.page(
        AccessQuery(kind="refused", principal=user["id"]), first=10
    )
    assert sorted(str((e.detail or {}).get("code")) for e in events) == [
        "FORBIDDEN",
        "FORBIDDEN",
        "NOT_FOUND",
    ]
    assert all(e.fields == () and e.records == () and e.purpose is None for e in events)
    incidents, _ = await services.store.for_tenant(tenant.id).incidents.page(None, first=10)
    assert {(i.rule, i.compromised) for i in incidents} == {
        ("probing", (Compromised("user", user["id"]),)),
        ("probing", (Compromised("api_key", created["apiKey"]["id"]),)),
    }


async def test_failed_signins_over_many_accounts_open_an_incident(
    detecting: Starlette,
    gw: httpx.AsyncClient,
    admin: GraphQLClient,
    services: Services,
    tenant: Tenant,
) -> None:
    await admin.ok(SET, {"i": {"failedSigninAccounts": 2}})
    await services.redis.zrem(key(detecting), tenant.id)
    for n in range(3):
        refused = await login(gw, tenant, f"guess{n}-{uuid.uuid4().hex[:6]}@d.example", "wrong-pw")
        assert refused.status_code == 401
    assert await services.redis.zscore(key(detecting), tenant.id) is not None  # marked by a failure
    opened = await one_pass(detecting, tenant)
    assert [(a.rule, a.principal, a.observed, a.threshold) for a, _ in opened] == [
        ("signins", None, 3, 2)
    ]
    incident = await services.store.for_tenant(tenant.id).incidents.get(opened[0][1])
    assert incident is not None and incident.compromised == (Compromised("platform"),)
    assert "guess" not in (incident.nature or "")


async def test_an_unreachable_webhook_is_retried_then_given_up_and_counted() -> None:
    metrics = GatewayMetrics()
    with WebhookReceiver(limit=0) as gone:  # stops at once: nothing listens
        url = gone.url
    webhook = Webhook(url, base64.b64decode(SECRET[6:]), metrics, attempts=3, backoff_seconds=0.01)
    try:
        webhook.send({"type": "enclave.detection.alert"})
        assert await webhook.drain() == 0
    finally:
        await webhook.aclose()
    text = metrics.exposition().decode()
    assert 'enclave_detection_webhook_deliveries_total{outcome="retried"} 2.0' in text
    assert 'enclave_detection_webhook_deliveries_total{outcome="failed"} 1.0' in text


def test_payload_bytes_are_what_is_signed() -> None:
    from gateway.detection import signature

    key = base64.b64decode(SECRET[6:])
    body = orjson.dumps({"a": 1})
    header = signature(key, "msg_1", 1_700_000_000, body)
    expected = StandardWebhook(SECRET).sign(
        "msg_1", dt.datetime.fromtimestamp(1_700_000_000, dt.UTC), body
    )
    assert header == expected


def test_a_webhook_needs_a_secret_of_enough_bytes(settings: Settings) -> None:
    fields = settings.model_dump()
    with pytest.raises(ValueError, match="DETECTION_WEBHOOK_SECRET"):
        Settings(**{**fields, "detection_webhook_url": "http://127.0.0.1:9/alerts"})
    with pytest.raises(ValueError, match="24 bytes"):
        parse_secret("whsec_" + base64.b64encode(b"short").decode())
    assert parse_secret(SECRET.rstrip("=")) == parse_secret(SECRET)  # padding optional


@pytest.mark.slow
@pytest.mark.skipif(EXTERNAL, reason="needs servers this test suite started")
async def test_a_failed_visit_is_counted_and_the_tenant_visited_again(
    detecting: Starlette,
    gw: httpx.AsyncClient,
    admin: GraphQLClient,
    services: Services,
    tenant: Tenant,
    stack: LocalStack | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert stack is not None
    await admin.ok(SET, {"i": {"refusedRequests": 1}})
    for _ in range(2):
        body = await admin('{ employee(id: "01M81KTK58R9JDRYNZ7F3HPA00") { lastName } }')
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    detector = detecting.state.services.detector
    await detecting.state.services.access.flush()
    assert await services.redis.zscore(key(detecting), tenant.id) is not None
    stack.eu.stop()
    try:
        opened = await detector.run_pass()
        assert await services.redis.zscore(key(detecting), tenant.id) is not None  # put back
    finally:
        stack.eu.start()
    assert all(t != tenant.id for t, _, _ in opened)
    failures = [
        r.getMessage() for r in caplog.records if "background detect failed" in r.getMessage()
    ]
    assert any(tenant.id in message for message in failures)
    assert 'enclave_background_failures_total{error="' in await scraped(gw)
    await until_region_back(services)
    opened = await detector.run_pass()
    assert [a.rule for t, a, _ in opened if t == tenant.id] == ["probing"]
