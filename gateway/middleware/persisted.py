"""Persisted operations (:mod:`gateway.persisted`): a hash sent for a registered document is
replaced by the document (``enclave.body``); in a tenant's allow-list mode an unregistered
document is refused."""

from __future__ import annotations

from graphql import GraphQLSchema
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope

from gateway.auth.actors import actor_for
from gateway.middleware.base import BODY, POLICY, PRINCIPAL, REQUEST_ID, Check
from gateway.persisted import PersistedOperations

__all__ = ["PersistedQueries"]


class PersistedQueries(Check):
    def __init__(
        self, app: ASGIApp, operations: PersistedOperations, schema: GraphQLSchema
    ) -> None:
        super().__init__(app)
        self.operations = operations
        self.schema = schema  # what documents are authorised against before they register

    async def check(self, scope: Scope, receive: Receive) -> None:
        principal, policy = PRINCIPAL.of(scope), POLICY.of(scope)
        actor = actor_for(
            Request(scope),
            principal.user_id,
            principal.kind,
            policy.roles,
            REQUEST_ID.of(scope),
            principal.session,
        )
        body = await self.operations.resolve(
            principal, actor, BODY.of(scope), policy=policy, schema=self.schema
        )
        BODY.put(scope, body)
