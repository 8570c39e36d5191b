"""Every error leaves with an ``extensions.code``, and none carries a stored value.

- Errors raised on purpose (``EnclaveError``) keep their message and extensions; the bare
  base class means "internal" and is masked.
- Errors before execution (syntax, validation, variable coercion) are ``BAD_USER_INPUT``.
  graphql-core quotes the offending value in some of these messages; since a value may be
  personal data, quoted values are cut from them.
- Anything else is a bug: masked as ``INTERNAL``, logged by class only.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterator

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.error import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import ExecutionResult

from resolvers.context import RequestContext
from schema.errors import EnclaveError

__all__ = ["ErrorCodes", "format_error", "sanitize_message"]

log = logging.getLogger("enclave.graphql")
#: Codes of a refused request that the access log records (probing: gateway.detection).
REFUSALS = frozenset({"FORBIDDEN", "NOT_FOUND"})

_VALUE_FRAGMENTS = [
    # "got invalid value {…} at 'input.x'" / "got invalid value 'x'; …"
    (re.compile(r"got invalid value .*?(?=( at '|; |$))"), "got an invalid value"),
    # "… cannot represent …: <value>" (scalar coercion)
    (re.compile(r"(cannot represent[^:]*):\s.*$", re.S), r"\1."),
    # "Expected value of type 'X', found <value>; …" / "found <value>."
    (re.compile(r"found .*?(?=(; |\.$|$))", re.S), "found an invalid value"),
    # "Value 'X' does not exist in 'Y' enum."
    (re.compile(r"\bValue .*? does not exist in"), "the value does not exist in"),
    # Syntax errors echo string tokens: Unexpected String "…".
    (re.compile(r'"(?:[^"\\]|\\.)*"'), '"…"'),
    (re.compile(r'""".*?"""', re.S), '"…"'),
]


_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?", re.S)
_FOUND = re.compile(r"(?i)\b(found):?\s.*$", re.S)
_UNKNOWN_OPERATION = re.compile(r"(?i)unknown operation named .*$", re.S)


def sanitize_message(message: str) -> str:
    """*message* without any value it quotes and without suggestions of field names (which
    could name fields the caller may not see); short."""
    message = _SUGGESTION.sub("", message)
    message = _UNKNOWN_OPERATION.sub("Unknown operation name.", message)
    for pattern, replacement in _VALUE_FRAGMENTS:
        message = pattern.sub(replacement, message)
    message = _FOUND.sub(r"\1 an invalid value.", message)
    return message if len(message) <= 300 else message[:297] + "..."


def format_error(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, EnclaveError) and type(original) is not EnclaveError:
        message, extensions = original.message, original.extensions
    elif error.path is None and (
        original is None or isinstance(original, GraphQLError | ValueError | TypeError)
    ):
        message, extensions = sanitize_message(error.message), {"code": "BAD_USER_INPUT"}
    else:
        if original is not None:
            # Frames only: an exception's message may quote a value.
            frames = "".join(traceback.format_tb(original.__traceback__))
            log.error("internal error at %s: %s\n%s", error.path, type(original).__name__, frames)
        message, extensions = "internal error", {"code": "INTERNAL"}
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


class ErrorCodes(SchemaExtension):
    """Rewrites the result's errors with :func:`format_error`, and records a request refused
    as ``FORBIDDEN`` or ``NOT_FOUND`` in the access log (the code only, once per code)."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if isinstance(result, GraphQLExecutionResult | ExecutionResult) and result.errors:
            result.errors = [format_error(e) for e in result.errors]
            context = self.execution_context.context
            if isinstance(context, RequestContext):
                codes = {(e.extensions or {}).get("code") for e in result.errors}
                for code in sorted(REFUSALS & {str(c) for c in codes}):
                    context.access.refused(code)
