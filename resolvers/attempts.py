"""Refused and failed mutations are audited too.

After a mutation operation that ended with errors, each root mutation field that did not
succeed gets an audit entry: who tried it, the operation, the datasheet, the record id and
the names of the input fields (never their values), and the error code. Changes that went
through have their entries from the write path already.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationType,
    SelectionSetNode,
)
from graphql.language import ObjectValueNode, VariableNode
from strawberry.extensions import SchemaExtension

from resolvers.context import RequestContext
from resolvers.documents import fragments_of, operations_named
from schema.datasheets import DATASHEETS
from schema.errors import EnclaveError

__all__ = ["AuditAttempts"]

log = logging.getLogger("enclave.audit")

_SHEET_BY_TYPE = {sheet.type_name: sheet.name for sheet in DATASHEETS.values()}


def _code(error: GraphQLError) -> str:
    code = (error.extensions or {}).get("code")
    if isinstance(code, str):
        return code  # already formatted by ErrorCodes
    original = error.original_error
    if isinstance(original, EnclaveError):
        return original.code
    return "BAD_USER_INPUT" if error.path is None else "INTERNAL"


def _datasheet(field_name: str) -> str | None:
    for prefix in ("create", "update", "archive", "restore", "delete"):
        if field_name.startswith(prefix):
            return _SHEET_BY_TYPE.get(field_name[len(prefix) :])
    return None


_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
_MUTATION = re.compile(r"^\s*(#[^\n]*\n\s*)*mutation\b")


def _root_fields(
    selections: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode]
) -> Iterator[FieldNode]:
    """The mutation fields of an operation, through inline fragments and fragment spreads."""
    for sel in selections.selections:
        if isinstance(sel, FieldNode):
            yield sel
        elif isinstance(sel, InlineFragmentNode):
            yield from _root_fields(sel.selection_set, fragments)
        elif isinstance(sel, FragmentSpreadNode) and sel.name.value in fragments:
            yield from _root_fields(fragments.pop(sel.name.value).selection_set, fragments)


def _argument(node: FieldNode, name: str, variables: dict[str, Any]) -> Any:
    for arg in node.arguments or ():
        if arg.name.value != name:
            continue
        if isinstance(arg.value, VariableNode):
            return variables.get(arg.value.name.value)
        if isinstance(arg.value, ObjectValueNode):
            return {f.name.value: None for f in arg.value.fields}
        return getattr(arg.value, "value", None)
    return None


class AuditAttempts(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:
        yield
        ec = self.execution_context
        result = ec.result
        errors = list(getattr(result, "errors", None) or ())
        context = ec.context
        if not errors or not isinstance(context, RequestContext):
            return
        if ec.graphql_document is None:
            # It did not parse (or was over the token limit): if it claims to be a
            # mutation, record that someone tried one, without anything from its text.
            if _MUTATION.match(ec.query or ""):
                await self._record(context, "unparsable", _code(errors[0]), None, None, [])
            return
        operations = [
            d
            for d in operations_named(ec.graphql_document, ec.operation_name)
            if d.operation is OperationType.MUTATION
        ]
        if not operations:
            return
        failed: dict[str | None, str] = {}
        for error in errors:
            key = error.path[0] if error.path else None
            failed.setdefault(str(key) if key is not None else None, _code(error))
        variables = ec.variables or {}
        fragments = fragments_of(ec.graphql_document)
        for node in _root_fields(operations[0].selection_set, fragments):
            key = node.alias.value if node.alias else node.name.value
            code = failed.get(key) or failed.get(None)
            if code is None:
                continue
            record = _argument(node, "id", variables)
            data = _argument(node, "input", variables)
            datasheet = _datasheet(node.name.value)
            # Only what we recognise is kept: a well-formed id, declared field names. The
            # caller's own text could be anything, and entries cannot be redacted.
            declared = DATASHEETS[datasheet].by_name if datasheet else {}
            mutation_type = ec.schema._schema.mutation_type
            known = mutation_type is not None and node.name.value in mutation_type.fields
            await self._record(
                context,
                node.name.value if known else "unknown",
                code,
                datasheet,
                record if isinstance(record, str) and _ID.match(record) else None,
                sorted(k for k in data if k in declared) if isinstance(data, dict) else [],
            )

    async def _record(
        self,
        context: RequestContext,
        operation: str,
        code: str,
        datasheet: str | None,
        record: str | None,
        fields: list[str],
    ) -> None:
        try:
            await context.store.audit.record_attempt(
                operation, context.actor, code, datasheet=datasheet, record=record, fields=fields
            )
        except EnclaveError:
            log.warning("could not audit a refused %s", operation)
