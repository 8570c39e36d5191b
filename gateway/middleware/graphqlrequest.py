"""A request Strawberry would answer with a plain-text 400 gets a GraphQL-shaped error with a
code instead: GraphQL goes as one JSON object in a POST (``405``, ``415`` or ``400
BAD_USER_INPUT`` otherwise)."""

from __future__ import annotations

import orjson
from starlette.datastructures import Headers
from starlette.types import Receive, Scope

from gateway.middleware.base import BODY, Check
from schema.errors import BadUserInputError, MethodNotAllowedError, UnsupportedRequestError

__all__ = ["GraphQLRequestCheck"]

_MEMBERS = (
    ("query", (str,), "a string"),
    ("operationName", (str, type(None)), "a string or null"),
    ("variables", (dict, type(None)), "an object or null"),
    ("extensions", (dict, type(None)), "an object or null"),
)


class GraphQLRequestCheck(Check):
    async def check(self, scope: Scope, receive: Receive) -> None:
        if scope["method"] != "POST":
            raise MethodNotAllowedError("send GraphQL operations as JSON in a POST request")
        if "application/json" not in Headers(scope=scope).get("content-type", ""):
            raise UnsupportedRequestError("the request body must be application/json")
        try:
            parsed = orjson.loads(BODY.of(scope))
        except orjson.JSONDecodeError:
            raise BadUserInputError("the request body is not valid JSON") from None
        if isinstance(parsed, list):
            raise BadUserInputError("batched requests are not supported: send one operation")
        if not isinstance(parsed, dict):
            raise BadUserInputError("the request body must be a JSON object")
        for key, kinds, what in _MEMBERS:
            if key in parsed and not isinstance(parsed[key], kinds):
                raise BadUserInputError(f"{key} must be {what}", field=key)
        if not isinstance(parsed.get("query"), str):
            raise BadUserInputError("the request has no query", field="query")
        name = parsed.get("operationName")
        if isinstance(name, str) and len(name) > 200:
            raise BadUserInputError("operationName is too long", field="operationName")
