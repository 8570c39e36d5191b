"""``/metrics``: the Prometheus exposition.

It holds only the bounded labels described in :mod:`gateway.metrics`, no tenant data. Set
``ENCLAVE_METRICS_TOKEN`` to require ``Authorization: Bearer <token>`` on it, or keep the route
unreachable from outside at the ingress.
"""

from __future__ import annotations

import hmac

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.auth.tokens import bearer_token
from gateway.metrics import GatewayMetrics
from schema.errors import UnauthenticatedError

__all__ = ["metrics_endpoint"]


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
