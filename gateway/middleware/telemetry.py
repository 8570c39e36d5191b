"""Per-request telemetry around ``/graphql``.

:class:`RequestTelemetry` counts and times each request in :class:`GatewayMetrics` and
writes one ``request`` log line (with the request's id, :mod:`gateway.middleware.requestid`):
method, path, status, duration, the operation's schema label, the region and error codes.
No address, user agent, token, variable or other value is in that line.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.metrics import GatewayMetrics
from gateway.middleware.base import PRINCIPAL
from regions.routing import region_of
from resolvers.telemetry import CURRENT, OperationInfo

__all__ = ["RequestTelemetry"]

log = logging.getLogger("enclave.requests")


class RequestTelemetry:
    """ASGI middleware: metrics and the request log line."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

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
            CURRENT.reset(info_token)
