"""``/graphql`` for an authenticated caller, once every step of the pipeline passed: the
compiled read path answers what it can, Strawberry the rest."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.types import Receive, Scope, Send
from strawberry import Schema
from strawberry.asgi import GraphQL

from gateway.accesslog import RequestAccess
from gateway.auth.actors import actor_for
from gateway.endpoints.compiled import CompiledPath
from gateway.exporturls import ExportLinksForRequest
from gateway.middleware.base import BODY, POLICY, PRINCIPAL, REQUEST_ID, replaying
from gateway.refusals import serve_graphql
from gateway.services import Services
from gateway.settings import Settings
from resolvers.context import RequestContext
from resolvers.limits import Limits

__all__ = ["EnclaveGraphQL", "GraphQLEndpoint", "limits_of"]


def limits_of(settings: Settings) -> Limits:
    return Limits(
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
        max_cost=settings.max_cost,
        max_selections=settings.max_selections,
        max_merges=settings.max_merges,
        introspection=settings.introspection,
    )


class EnclaveGraphQL(GraphQL[RequestContext, None]):
    """Strawberry's ASGI app, given the principal and policy the pipeline put in the scope."""

    def __init__(self, schema: Schema, services: Services) -> None:
        super().__init__(
            schema,
            graphql_ide=None,  # GraphiQL is a page of the console
            allow_queries_via_get=False,
        )
        self.services = services

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)  # as the compiled read path does

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await serve_graphql(self, scope, receive, send)

    async def context_of(self, request: Request) -> RequestContext:
        """The context of *request*'s resolvers (the compiled read path's too)."""
        return await self.get_context(request, None)

    async def get_context(self, request: Any, response: Any) -> RequestContext:
        scope = request.scope
        principal, policy, request_id = PRINCIPAL.of(scope), POLICY.of(scope), REQUEST_ID.of(scope)
        services, settings = self.services, self.services.settings
        return RequestContext(
            principal=principal,
            store=services.store.for_tenant(principal.tenant_id),
            actor=actor_for(
                request,
                principal.user_id,
                principal.kind,
                policy.roles,
                request_id,
                principal.session,
            ),
            policy=policy,
            authorization_cache=services.authorization,
            policies=services.policies,
            account=services.signin,
            operations=services.operations,
            seal_key=settings.seal_key,
            known_heads=services.heads.known,
            access=RequestAccess(
                services.access,
                principal,
                policy.roles,
                (request.headers.get("x-purpose") or "")[:200] or None,
                request_id,
            ),
            default_page_size=settings.default_page_size,
            max_page_size=settings.max_page_size,
            max_cost=settings.max_cost,
            max_tokens=settings.max_tokens,
            accepts_external=services.external is not None,
            exports=ExportLinksForRequest(services.export_urls, str(request.base_url)),
        )


class GraphQLEndpoint:
    def __init__(self, graphql: EnclaveGraphQL, compiled: CompiledPath | None) -> None:
        self.graphql = graphql
        self.compiled = compiled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = BODY.of(scope)
        if self.compiled is not None and await self.compiled.serve(scope, body, send):
            return
        await self.graphql(scope, replaying(body, receive), send)
