"""Admin mutations for persisted operations: register documents, switch allow-list mode.

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import strawberry
from graphql import GraphQLError, parse
from strawberry.types import Info

from resolvers.authz.document import authorize
from resolvers.authz.guards import admin_context
from resolvers.context import OperationsPort, RequestContext
from schema.errors import BadUserInputError, EnclaveError, ForbiddenError

__all__ = ["OperationsMutation"]


def _port(info: Info) -> tuple[RequestContext, OperationsPort]:
    ctx = admin_context(info, "manage registered operations")
    if ctx.operations is None:
        raise EnclaveError("persisted operations are not available")
    return ctx, ctx.operations


@strawberry.type
class OperationsMutation:
    @strawberry.mutation(
        description="Register a GraphQL document for this tenant (persisted operations); "
        "returns its SHA-256, the `extensions.persistedQuery.sha256Hash` clients send."
    )
    async def register_operation(self, info: Info, document: str) -> str:
        ctx, port = _port(info)
        try:
            # Stops where the limit is reached: such a document could never run anyway.
            parsed = parse(document, max_tokens=ctx.max_tokens)
        except GraphQLError:
            raise BadUserInputError(
                f"the document is not valid GraphQL of at most {ctx.max_tokens} tokens",
                field="document",
            ) from None
        # Only what the caller may run: the same authorisation as running it.
        if authorize(info.schema._schema, parsed, None, ctx.policy).errors:
            raise ForbiddenError("the document reads or changes what you may not", field="document")
        return await port.register(ctx.principal.tenant_id, document, ctx.actor)

    @strawberry.mutation(
        description="Allow-list mode: when on, only registered operations run in this tenant."
    )
    async def set_operation_allow_list(self, info: Info, enabled: bool) -> bool:
        ctx, port = _port(info)
        await port.set_allow_list(ctx.principal.tenant_id, enabled, ctx.actor)
        return enabled
