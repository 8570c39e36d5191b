"""The request body, read once and bounded: ``413 PAYLOAD_TOO_LARGE`` past the limit, before
anything is parsed or any credential checked. Inner steps find it in the scope
(``BODY`` of :mod:`gateway.middleware.base`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope

from gateway.middleware.base import BODY, Check
from schema.errors import PayloadTooLargeError

__all__ = ["BodyLimit"]


class BodyLimit(Check):
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def check(self, scope: Scope, receive: Receive) -> None:
        request, limit = Request(scope, receive), self.max_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLargeError(limit)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(limit)
            chunks.append(chunk)
        BODY.put(scope, b"".join(chunks))
