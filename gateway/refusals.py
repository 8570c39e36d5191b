"""Refusals at the HTTP layer, each a JSON GraphQL error with ``extensions.code``.

Strawberry answers a few requests itself with a ``text/plain`` 400 (an unknown
``operationName``, which it repeats, a query sent where only mutations may run, a request
it cannot read); :func:`serve_graphql` answers those as every other refusal is answered,
and never repeats what was sent.
"""

from __future__ import annotations

from typing import Any

import orjson
from cross_web import HTTPException  # what Strawberry raises for these (its dependency)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from schema.errors import BadUserInputError, EnclaveError, MethodNotAllowedError, RateLimitedError

__all__ = [
    "error_response",
    "serve_graphql",
]


def error_response(exc: EnclaveError) -> Response:
    body = {"errors": [{"message": exc.message, "extensions": exc.extensions}]}
    headers = {"www-authenticate": "Bearer"} if exc.http_status == 401 else {}
    if isinstance(exc, RateLimitedError):
        headers["retry-after"] = str(exc.retry_after)
    return Response(
        orjson.dumps(body),
        status_code=exc.http_status,
        media_type="application/json",
        headers=headers,
    )


def _refusal(exc: HTTPException) -> EnclaveError:
    cause = exc.__cause__
    if isinstance(cause, CannotGetOperationTypeError):
        return BadUserInputError(
            "the document has no operation of the given operationName", field="operationName"
        )
    if isinstance(cause, InvalidOperationTypeError):
        return MethodNotAllowedError("this operation type may not be sent this way")
    # Strawberry's other reasons are fixed sentences that quote nothing.
    return BadUserInputError(exc.reason or "the request is not a GraphQL request")


async def serve_graphql(app: GraphQL[Any, Any], scope: Scope, receive: Receive, send: Send) -> None:
    """``app`` (a Strawberry ASGI app) serving one HTTP request, its refusals as JSON."""
    try:
        response = await app.run(Request(scope, receive))
    except HTTPException as exc:
        response = error_response(_refusal(exc))
    await response(scope, receive, send)
