"""Per-request telemetry around ``/graphql``, and the ``/metrics`` endpoint.

:class:`RequestTelemetry` gives each request its id (the ``X-Request-Id`` the endpoint
returns and audit entries carry), makes it the request id of every log line written while
the request runs, and afterwards counts and times the request in :class:`GatewayMetrics`
and writes one ``request`` log line: method, path, status, duration, the operation's
schema label, the region and error codes. No address, user agent, token, variable or
other value is in that line.

``/metrics`` holds only the bounded labels described in :mod:`gateway.metrics`, no tenant
data. Set ``ENCLAVE_METRICS_TOKEN`` to require ``Authorization: Bearer <token>`` on it, or
keep the route unreachable from outside at the ingress.
"""

from __future__ import annotations

import hmac
import logging
import time
import uuid

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.auth import bearer_token
from gateway.logs import REQUEST_ID
from gateway.metrics import GatewayMetrics
from regions.routing import region_of
from resolvers.telemetry import CURRENT, OperationInfo
from schema.errors import UnauthenticatedError

__all__ = ["RequestTelemetry", "metrics_endpoint"]

log = logging.getLogger("enclave.requests")


class RequestTelemetry:
    """ASGI wrapper: request id, metrics and the request log line."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = uuid.uuid4().hex
        scope["enclave.request_id"] = request_id
        info = OperationInfo()
        id_token, info_token = REQUEST_ID.set(request_id), CURRENT.set(info)
        status = 500

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        started = time.perf_counter()
        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, watched)
        finally:
            seconds = time.perf_counter() - started
            self.metrics.in_flight.dec()
            principal = scope.get("enclave.principal")
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
            CURRENT.reset(info_token)
            REQUEST_ID.reset(id_token)


async def metrics_endpoint(request: Request) -> Response:
    """The Prometheus exposition; behind ``ENCLAVE_METRICS_TOKEN`` when that is set."""
    services = request.app.state.services
    expected = services.settings.metrics_token
    if expected is not None:
        try:
            given = bearer_token(request.headers.get("authorization"))
        except UnauthenticatedError:
            given = ""
        if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
            error = UnauthenticatedError("the metrics endpoint needs its token")
            return JSONResponse(
                {"errors": [{"message": error.message, "extensions": error.extensions}]},
                status_code=401,
                headers={"www-authenticate": "Bearer"},
            )
    metrics: GatewayMetrics = services.metrics
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
