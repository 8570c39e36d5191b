"""What an operation was and how it ended, for the gateway's metrics and request log.

The HTTP layer puts an :class:`OperationInfo` in :data:`CURRENT` before it hands a request
to Strawberry; :class:`OperationTelemetry` fills in a label made only of names from the
schema (``query:employees``), never the client's free-text operation name or any value,
and the error codes of the result.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from graphql import FieldNode, GraphQLSchema, OperationDefinitionNode
from graphql.execution import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext, ExecutionResult

from resolvers.documents import operation_of

__all__ = ["CURRENT", "OperationInfo", "OperationTelemetry", "label_of", "operation_label"]

#: The label of a request that never reached execution (bad JSON, 401, 413, 429 ...).
UNPARSED = "none"


@dataclass(slots=True)
class OperationInfo:
    label: str = UNPARSED
    codes: list[str] = field(default_factory=list)


CURRENT: ContextVar[OperationInfo | None] = ContextVar("enclave_operation", default=None)


def _operation(context: ExecutionContext) -> OperationDefinitionNode | None:
    document = context.graphql_document
    if document is None:
        return None
    return operation_of(document, context.operation_name)


def operation_label(context: ExecutionContext, schema: GraphQLSchema) -> str:
    """``<type>:<root field>``, ``<type>:multiple`` for several root fields, or ``invalid``
    when the document names no field of the schema's root type (bounded cardinality)."""
    operation = _operation(context)
    return "invalid" if operation is None else label_of(operation, schema)


def label_of(operation: OperationDefinitionNode, schema: GraphQLSchema) -> str:
    """:func:`operation_label` of one operation definition."""
    kind = operation.operation.value
    root = schema.get_root_type(operation.operation)
    names = {s.name.value for s in operation.selection_set.selections if isinstance(s, FieldNode)}
    if root is None or not names or not names <= set(root.fields) | {"__typename", "__schema"}:
        return "invalid"
    return f"{kind}:{names.pop()}" if len(names) == 1 else f"{kind}:multiple"


class OperationTelemetry(SchemaExtension):
    """Records the operation's label and error codes in :data:`CURRENT`. Listed before
    ``ErrorCodes`` so that it sees the errors as the client does (extensions exit in
    reverse order)."""

    def on_operation(self) -> Iterator[None]:
        yield
        info = CURRENT.get()
        if info is None:
            return
        context = self.execution_context
        info.label = operation_label(context, context.schema._schema)
        result = context.result
        if isinstance(result, GraphQLExecutionResult | ExecutionResult) and result.errors:
            info.codes = [
                str((error.extensions or {}).get("code", "INTERNAL")) for error in result.errors
            ]
