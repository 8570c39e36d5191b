"""The compiled read path in front of Strawberry: a request it can answer is answered from
a compiled plan (resolvers.compiled); every other request goes on to Strawberry unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from graphql import ASTValidationRule, specified_rules
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope, Send
from strawberry import Schema
from strawberry.extensions import AddValidationRules

from resolvers.authz.cache import AuthorizationCache
from resolvers.compiled import CompiledReads
from resolvers.context import RequestContext

__all__ = ["CompiledPath", "validation_rules"]

#: The context Strawberry would give the request's resolvers.
ContextOf = Callable[[Request], Awaitable[RequestContext]]


def validation_rules(schema: Schema) -> list[type[ASTValidationRule]]:
    """The rules Strawberry validates with for *schema*: the specified ones and those its
    extensions add (depth, aliases, introspection)."""
    rules: list[type[ASTValidationRule]] = list(specified_rules)
    for extension in schema.extensions:
        instance: Any = extension() if callable(extension) else extension
        if isinstance(instance, AddValidationRules):
            rules.extend(instance.validation_rules)
    return rules


class CompiledPath:
    def __init__(
        self, schema: Schema, context: ContextOf, cache: AuthorizationCache, max_tokens: int
    ) -> None:
        self.context = context
        #: Requests answered from a compiled plan (the rest went on to Strawberry).
        self.served = 0
        self.reads = CompiledReads(
            schema._schema, validation_rules(schema), cache, max_tokens=max_tokens
        )

    async def serve(self, scope: Scope, body: bytes, send: Send) -> bool:
        """Answer the (checked) request if a compiled plan can; False to go on."""
        request = orjson.loads(body)
        context = await self.context(Request(scope))
        answer = await self.reads.run(
            context, request["query"], request.get("operationName"), request.get("variables")
        )
        if answer is None:
            return False
        self.served += 1
        await Response(answer, media_type="application/json")(scope, _no_receive, send)
        return True


async def _no_receive() -> Any:
    return {"type": "http.disconnect"}
