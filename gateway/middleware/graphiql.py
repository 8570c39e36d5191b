"""The GraphiQL page, for a browser's ``GET /graphql`` (``ENCLAVE_GRAPHIQL``): it holds no data
and needs no token; the queries sent from it do, and go through every other step."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.asgi import GraphQL

__all__ = ["GraphiQL"]


class GraphiQL:
    def __init__(self, app: ASGIApp, graphql: GraphQL[Any, Any]) -> None:
        self.app = app
        self.graphql = graphql

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            await (await self.graphql.render_graphql_ide(request))(scope, receive, send)
            return
        await self.app(scope, receive, send)
