"""Limits on what one GraphQL document may ask for, checked before execution.

Depth, aliases and tokens are Strawberry's own extensions; the estimated cost is ours: each
selected field costs one per object it is resolved for, and a field with a ``first``
argument multiplies the cost of everything under it by that page size (its default if not
given), so a list costs its page size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from graphql.validation import ASTValidationContext
from strawberry.extensions import QueryDepthLimiter

from schema.errors import BadUserInputError

__all__ = ["DepthLimiter", "Limits", "QueryTooCostlyError", "estimate_cost"]


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2_000
    max_cost: int = 100_000
    introspection: bool = True


class QueryTooCostlyError(BadUserInputError):
    def __init__(self, cost: int, limit: int) -> None:
        super().__init__(
            f"the query's estimated cost {cost} is over the limit of {limit}; ask for fewer "
            "records or fields",
            limit="cost",
            max=limit,
            cost=cost,
        )


def _first(node: FieldNode, variables: Mapping[str, Any], default: int) -> int | None:
    for arg in node.arguments or ():
        if arg.name.value != "first":
            continue
        if isinstance(arg.value, IntValueNode):
            return max(int(arg.value.value), 0)
        if isinstance(arg.value, VariableNode):
            value = variables.get(arg.value.name.value)
            return value if isinstance(value, int) and value >= 0 else default
        return default
    return None


def estimate_cost(
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any],
    *,
    default_page: int,
    page_fields: frozenset[str],
) -> int:
    """The estimated cost of the operation that will run. *page_fields* are the root fields
    that page with ``first`` and default to *default_page* when it is not given."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }

    def walk(selections: SelectionSetNode, multiplier: int, depth: int) -> int:
        cost = 0
        for sel in selections.selections:
            if isinstance(sel, FieldNode):
                cost += multiplier
                if sel.selection_set is not None:
                    first = _first(sel, variables, default_page)
                    if first is None and depth == 0 and sel.name.value in page_fields:
                        first = default_page
                    cost += walk(sel.selection_set, multiplier * (first or 1), depth + 1)
            elif isinstance(sel, InlineFragmentNode):
                cost += walk(sel.selection_set, multiplier, depth)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value in fragments:
                cost += walk(fragments[sel.name.value].selection_set, multiplier, depth)
        return cost

    total = 0
    for op in document.definitions:
        if isinstance(op, OperationDefinitionNode) and (
            operation_name is None or (op.name is not None and op.name.value == operation_name)
        ):
            total += walk(op.selection_set, 1, 0)
    return total


class DepthLimiter(QueryDepthLimiter):
    """Strawberry's depth limit, except that a spread of an undefined fragment is left to
    graphql-core's ``KnownFragmentNamesRule`` (Strawberry's rule raises ``KeyError`` on it,
    which would reach the client as an error without a code)."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(max_depth=max_depth)
        self.validation_rules = [_skip_unknown_fragments(r) for r in self.validation_rules]


def _skip_unknown_fragments(rule: type[ASTValidationRule]) -> type[ASTValidationRule]:
    class Rule(rule):  # type: ignore[valid-type, misc]
        def __init__(self, context: ASTValidationContext) -> None:
            try:
                super().__init__(context)
            except KeyError:  # an undefined fragment: another rule names it
                ASTValidationRule.__init__(self, context)

    return Rule
