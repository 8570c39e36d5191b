"""OpenTelemetry traces: a span per request and per step, the caller's ``traceparent``
continued, and no personal data, password, token, key or variable in any of them."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.services import Services
from gateway.settings import Settings
from tests.support.client import GraphQLClient, Tenant, asgi_client, make_tenant
from tests.support.employees import CREATE_EMPLOYEE, employee_input
from tests.support.roles import CREATE_API_KEY, make_role
from tests.support.signins import PASSWORD, login, new_user

# Nothing listens there: spans go to the in-memory exporter given instead.
COLLECTOR = "http://127.0.0.1:9"


async def _gateway(settings: Settings, exporter: InMemorySpanExporter) -> AsyncIterator[Starlette]:
    app = create_app(settings, background=False, trace_exporter=exporter)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def traced(settings: Settings, exporter: InMemorySpanExporter) -> AsyncIterator[Starlette]:
    async for app in _gateway(settings.model_copy(update={"otlp_endpoint": COLLECTOR}), exporter):
        yield app


@pytest.fixture
async def untraced(settings: Settings, exporter: InMemorySpanExporter) -> AsyncIterator[Starlette]:
    async for app in _gateway(settings, exporter):
        yield app


def _finished(app: Starlette, exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    tracing = app.state.services.tracing
    assert tracing is not None and tracing.flush()
    return list(exporter.get_finished_spans())


def _request(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def _under(spans: list[ReadableSpan], root: ReadableSpan) -> list[ReadableSpan]:
    """The spans whose parent chain leads to *root*."""
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    assert root.context is not None
    below = []
    for span in spans:
        parent = span.parent
        while parent is not None and parent.span_id in by_id:
            if parent.span_id == root.context.span_id:
                below.append(span)
                break
            parent = by_id[parent.span_id].parent
    return below


def _texts(span: ReadableSpan) -> Iterable[str]:
    """Everything a span carries, as strings."""
    yield span.name
    yield str(span.status.description or "")
    for attributes in (span.attributes, *(e.attributes for e in span.events)):
        for key, value in (attributes or {}).items():
            yield key + "=" + str(value)  # a sequence as its items' reprs
    for event in span.events:
        yield event.name
    yield str(span.resource.attributes)


async def _post(
    http: httpx.AsyncClient, headers: dict[str, str], query: str, variables: dict[str, Any]
) -> Any:
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    return response.json()


async def test_requests_are_traced_without_personal_data(
    traced: Starlette, exporter: InMemorySpanExporter, services: Services
) -> None:
    http = asgi_client(traced)
    tenant: Tenant = await make_tenant(services, "DE", "Traces Org")
    admin = GraphQLClient(http, tenant.token)
    await make_role(admin, "etl", read=["firstName", "workEmail"])
    key = (await admin.ok(CREATE_API_KEY, {"role": "etl"}))["createApiKey"]["key"]
    email = await new_user(http, tenant)
    _finished(traced, exporter)
    exporter.clear()  # the set-up's spans

    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    bearer = {"authorization": f"Bearer {tenant.token}"}
    values = employee_input()
    created = await _post(
        http,
        {**bearer, "traceparent": f"00-{trace_id}-{parent_id}-01"},
        CREATE_EMPLOYEE,
        {"input": values},
    )
    record = created["data"]["createEmployee"]["id"]
    read_query = f'{{ employee(id: "{record}") {{ firstName nationalId dateOfBirth }} }}'
    read = await _post(http, bearer, read_query, {})
    assert read["data"]["employee"]["nationalId"] == values["nationalId"]
    wrong = f"wrong-{uuid.uuid4().hex}"
    failed = (await login(http, tenant, email, wrong)).json()
    assert failed["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    by_key = await _post(http, {"x-api-key": key}, "{ employees { nodes { firstName } } }", {})
    assert by_key["data"]["employees"]["nodes"][0]["firstName"] == values["firstName"]

    spans = _finished(traced, exporter)

    # The create request continues the caller's trace, and its steps are its descendants.
    create = _request(spans, "graphql mutation:createEmployee")
    assert create.context is not None and create.parent is not None
    assert f"{create.context.trace_id:032x}" == trace_id
    assert f"{create.parent.span_id:016x}" == parent_id and create.parent.is_remote
    assert create.attributes is not None
    assert create.attributes["enclave.tenant"] == tenant.id
    assert create.attributes["http.response.status_code"] == 200
    steps = _under(spans, create)
    names = {s.name for s in steps}
    assert {"authenticate", "authorize", "audit.write"} <= names, names
    audit = next(s for s in steps if s.name == "audit.write")
    assert audit.attributes == {"enclave.datasheet": "employees", "enclave.op": "create"}
    # Database commands through the PyMongo listener, with the span current when they ran.
    commands = [s for s in steps if (s.attributes or {}).get("db.system") == "mongodb"]
    assert commands and all(s.attributes["enclave.region"] == "eu" for s in commands)  # type: ignore[index]
    assert audit.context is not None
    under_audit = [s for s in commands if s.parent and s.parent.span_id == audit.context.span_id]
    assert any(s.attributes["db.mongodb.collection"] == "audit" for s in under_audit)  # type: ignore[index]
    assert all(s.attributes["db.statement"] == s.name.split(".")[-1] for s in commands)  # type: ignore[index]

    # The read: a new trace (no traceparent came), with its decryption.
    reading = _request(spans, "graphql query:employee")
    assert reading.parent is None and reading.context is not None
    assert reading.context.trace_id != create.context.trace_id
    decrypts = [s for s in _under(spans, reading) if s.name == "decrypt"]
    assert decrypts and decrypts[0].attributes["enclave.values"] >= 2  # type: ignore[index,operator]

    # The refused sign-in, and the API key's call.
    signin = _request(spans, "graphql mutation:login")
    assert signin.attributes["enclave.error_codes"] == ("UNAUTHENTICATED",)  # type: ignore[index]
    assert any((s.attributes or {}).get("db.system") for s in _under(spans, signin))
    api = _request(spans, "graphql query:employees")
    authenticated = [s for s in _under(spans, api) if s.name == "authenticate"]
    assert authenticated[0].attributes == {"enclave.principal.kind": "api_key"}

    # No value, password, token, key, email, query text or user id in any span.
    personal = [v for v in values.values() if isinstance(v, str) and len(v) > 8]
    forbidden = [
        *personal,
        email,
        wrong,
        PASSWORD,
        tenant.token,
        key,
        key.rsplit("_", 1)[1],
        read_query,
        record,
        tenant.admin_id,
    ]
    assert len(personal) >= 6
    texts = [(span.name, text) for span in spans for text in _texts(span)]
    for name, text in texts:
        for secret in forbidden:
            assert secret not in text, (name, text)
    # The search sees attribute values: the tenant id (opaque, allowed) is found in them.
    assert any(tenant.id in text for _, text in texts)


async def test_no_spans_when_tracing_is_off(
    untraced: Starlette, exporter: InMemorySpanExporter, eu_tenant: Tenant
) -> None:
    http = asgi_client(untraced)
    assert untraced.state.services.tracing is None
    client = GraphQLClient(http, eu_tenant.token)
    created = await client.ok(CREATE_EMPLOYEE, {"input": employee_input()})
    await client.ok(f'{{ employee(id: "{created["createEmployee"]["id"]}") {{ firstName }} }}')
    assert exporter.get_finished_spans() == ()
