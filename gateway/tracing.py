"""OpenTelemetry traces, exported over OTLP/HTTP when ``ENCLAVE_OTLP_ENDPOINT`` is set.

Off by default: :meth:`Tracing.from_settings` then returns None, no tracer provider is made,
no span is started and no listener watches the database (:mod:`storage.tracing` costs one
context-variable read per step). On, each ``/graphql`` request is a server span
(:class:`gateway.middleware.telemetry.RequestTelemetry`), a child of the caller's W3C
``traceparent`` if it sent one, with children ``authenticate``, ``authorize``, one span per
database command (:class:`CommandSpans`), ``decrypt`` and ``audit.write``. The tracer
provider is the gateway's own, never the process-wide one, so two apps in a process (the
tests) do not mix their spans.

Privacy (DESIGN.md, "Whom it must hold against"): a trace collector is outside the tenant's
data boundary, so no span name or attribute holds a value of a record, a variable, the query
text, an email, a token, a key or a password; where each attribute is set, a comment says
why it is safe. OTLP headers (a collector's credentials) come from the exporter's own
``OTEL_EXPORTER_OTLP_HEADERS``, not from the settings.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.pymongo import CommandTracer
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Span, Status, StatusCode, Tracer, get_current_span
from pymongo import monitoring

from gateway.settings import Settings

__all__ = ["CommandSpans", "Tracing"]

_TRACES_PATH = "/v1/traces"


def traces_url(endpoint: str) -> str:
    """The collector's traces URL: *endpoint* with ``/v1/traces`` unless it ends with it."""
    base = endpoint.rstrip("/")
    return base if base.endswith(_TRACES_PATH) else base + _TRACES_PATH


@dataclass(slots=True)
class Tracing:
    """The gateway's tracer provider (spans batched to *exporter*) and its tracer."""

    provider: TracerProvider
    tracer: Tracer

    @classmethod
    def from_settings(
        cls, settings: Settings, exporter: SpanExporter | None = None
    ) -> Tracing | None:
        """None when tracing is off (no ``otlp_endpoint``); otherwise spans go to *exporter*,
        by default the OTLP/HTTP exporter of ``otlp_endpoint``."""
        if not settings.otlp_endpoint:
            return None
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: "enclave-gateway"}))
        chosen = exporter or OTLPSpanExporter(endpoint=traces_url(settings.otlp_endpoint))
        provider.add_span_processor(BatchSpanProcessor(chosen))
        return cls(provider, provider.get_tracer("enclave.gateway"))

    def listeners(self, region: str) -> list[monitoring._EventListener]:
        """The PyMongo command listener of one region's clients."""
        return [CommandSpans(self.tracer, region)]

    def flush(self) -> bool:
        """Export the spans ended so far (tests; the batch exporter otherwise sends them
        every few seconds)."""
        return self.provider.force_flush()

    async def aclose(self) -> None:
        # Shutting down exports what is left, over the network: not on the event loop.
        await asyncio.to_thread(self.provider.shutdown)


class CommandSpans(CommandTracer):
    """A span per database command, from opentelemetry-instrumentation-pymongo's listener
    given to one region's clients (not registered process-wide).

    Its attributes (``capture_statement`` off): ``db.system`` (``mongodb``), ``db.name``
    (``tenant_<id>``, an opaque id, or a shared database's name), ``db.statement`` (the
    command's *name* only, e.g. ``find``: never the command document), ``db.mongodb.collection``
    (a datasheet or internal collection name), ``net.peer.name``/``net.peer.port`` (the
    server's address); we add ``enclave.region`` (``eu``/``us``). A failed command carries its
    server error's code name (``DuplicateKey``), never its message, which can quote a key's
    value. Commands outside a traced request (background loops) start no span.
    """

    def __init__(self, tracer: Tracer, region: str) -> None:
        super().__init__(tracer, request_hook=self._region)
        self.region = region

    def _region(self, span: Span, event: monitoring.CommandStartedEvent) -> None:
        span.set_attribute("enclave.region", self.region)  # eu or us

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if get_current_span().is_recording():
            super().started(event)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        span = self._pop_span(event)
        if span is None:
            return
        span.set_status(Status(StatusCode.ERROR))
        span.set_attribute("error.type", str(event.failure.get("codeName", "UnknownError")))
        span.end()
