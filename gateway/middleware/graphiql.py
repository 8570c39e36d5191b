"""A browser's ``GET /graphql`` (``ENCLAVE_GRAPHIQL``): redirected to GraphiQL, a page of the
console, which serves it under a strict CSP (signed in, with the session's token). The
redirect holds no data and needs no token; the queries sent from the page do, and go through
every other step."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["GRAPHIQL", "GraphiQL"]

GRAPHIQL = "/console/graphiql"


class GraphiQL:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            await RedirectResponse(GRAPHIQL, status_code=307)(scope, receive, send)
            return
        await self.app(scope, receive, send)
