"""Per-request telemetry around ``/graphql``.

:class:`RequestTelemetry` counts and times each request in :class:`GatewayMetrics` and
writes one ``request`` log line (with the request's id, :mod:`gateway.middleware.requestid`):
method, path, status, duration, the operation's schema label, the region and error codes.
No address, user agent, token, variable or other value is in that line.

When tracing is on (:mod:`gateway.tracing`) the request is also a server span, a child of
the caller's W3C ``traceparent`` if one came (nothing is added to the response), with the
same facts as attributes plus the tenant id; the steps inside add their spans to it
(:mod:`storage.tracing`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.metrics import GatewayMetrics
from gateway.middleware.base import PRINCIPAL
from gateway.tracing import Tracing
from regions.routing import region_of
from resolvers.telemetry import CURRENT, OperationInfo
from storage.tracing import TRACER

__all__ = ["RequestTelemetry"]

log = logging.getLogger("enclave.requests")
#: W3C trace context only (``traceparent``/``tracestate``), whatever OTEL_PROPAGATORS says:
#: baggage would carry the caller's free text into every span's context.
_PROPAGATOR = TraceContextTextMapPropagator()


class RequestTelemetry:
    """ASGI middleware: metrics, the request log line and, when tracing is on, the span."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics, tracing: Tracing | None) -> None:
        self.app = app
        self.metrics = metrics
        self.tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        info = OperationInfo()
        info_token = CURRENT.set(info)
        status = 500

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        started = time.perf_counter()
        self.metrics.in_flight.inc()
        with self._span(scope) as span:
            try:
                await self.app(scope, receive, watched)
            finally:
                seconds = time.perf_counter() - started
                self.metrics.in_flight.dec()
                principal = PRINCIPAL.get(scope)
                region = region_of(principal.tenant_id) if principal is not None else "none"
                codes = info.codes or ([f"http_{status}"] if status >= 400 else [])
                self.metrics.observe(info.label, region, seconds, codes)
                log.info(
                    "request",
                    extra={
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "status": status,
                        "duration_ms": round(seconds * 1000.0, 2),
                        "operation": info.label,
                        "region": region,
                        "codes": sorted(set(codes)),
                    },
                )
                if span is not None:
                    span.update_name(f"graphql {info.label}")
                    span.set_attributes(
                        {
                            # Fixed by the route: GET or POST, /graphql.
                            "http.request.method": str(scope.get("method")),
                            "url.path": str(scope.get("path")),
                            "http.response.status_code": status,
                            # Schema names only (query:employees), never the client's free-text
                            # operation name (resolvers.telemetry).
                            "enclave.operation": info.label,
                            "enclave.region": region,  # eu, us or none
                            "enclave.error_codes": sorted(set(codes)),  # schema.errors codes
                        }
                    )
                    if principal is not None:
                        # An opaque id (eu_<ulid>) naming no person; the user id is left out.
                        span.set_attribute("enclave.tenant", principal.tenant_id)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                CURRENT.reset(info_token)

    @contextlib.contextmanager
    def _span(self, scope: Scope) -> Iterator[Span | None]:
        """The request's span, current (and the tracer in reach of inner steps) while the
        request runs; nothing when tracing is off."""
        if self.tracing is None:
            yield None
            return
        parent = _PROPAGATOR.extract(Headers(scope=scope))
        tracer_token = TRACER.set(self.tracing.tracer)
        try:
            with self.tracing.tracer.start_as_current_span(
                "graphql",
                context=parent,
                kind=SpanKind.SERVER,
                # An exception's message or stack may quote values: not recorded.
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                yield span
        finally:
            TRACER.reset(tracer_token)
