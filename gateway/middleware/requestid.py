"""Each request's id: ``X-Request-Id`` on its response, ``enclave.request_id`` in its scope
(audit and access log entries carry it) and the request id of every log line written while it
runs (:mod:`gateway.logs`).

Ours, always: an id a caller sends would be free text stored in audit entries.
"""

from __future__ import annotations

import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.logs import REQUEST_ID as LOGGED_REQUEST_ID
from gateway.middleware.base import REQUEST_ID

__all__ = ["RequestId"]


class RequestId:
    """ASGI middleware of an HTTP route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = uuid.uuid4().hex
        REQUEST_ID.put(scope, request_id)
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        token = LOGGED_REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            LOGGED_REQUEST_ID.reset(token)
