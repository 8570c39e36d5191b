"""Limits on what one GraphQL document may ask for, checked before execution.

Tokens are Strawberry's own extension; depth, aliases and the expanded size are measured in
one linear pass (resolvers.docshape); the estimated cost is ours: each
selected field costs one per object it is resolved for, and a field with a ``first``
argument multiplies the cost of everything under it by that page size (its default if not
given), so a list costs its page size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    SelectionSetNode,
    VariableNode,
)

from resolvers.documents import fragments_of, operations_named

__all__ = ["Limits", "estimate_cost"]


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int = 12
    max_aliases: int = 30
    #: Selections once every fragment spread is expanded (resolvers.docshape).
    max_selections: int = 10_000
    #: Pairs of fields merged under one name (resolvers.docshape.merged_pairs).
    max_merges: int = 1_000
    max_tokens: int = 2_000
    max_cost: int = 100_000
    introspection: bool = True


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
    fragments = fragments_of(document)
    # The cost of a selection set is linear in the multiplier, so each fragment is costed
    # once per multiplier of one (at the root or below it) and scaled where it is spread:
    # a fragment spread twice in each of n fragments is walked n times, not 2**n.
    memo: dict[tuple[str, bool], int] = {}
    open_: set[str] = set()

    def walk(selections: SelectionSetNode, root: bool) -> int:
        cost = 0
        for sel in selections.selections:
            if isinstance(sel, FieldNode):
                cost += 1
                if sel.selection_set is not None:
                    first = _first(sel, variables, default_page)
                    if first is None and root and sel.name.value in page_fields:
                        first = default_page
                    cost += (first or 1) * walk(sel.selection_set, False)
            elif isinstance(sel, InlineFragmentNode):
                cost += walk(sel.selection_set, root)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value in fragments:
                cost += spread(sel.name.value, root)
        return cost

    def spread(name: str, root: bool) -> int:
        known = memo.get((name, root))
        if known is None:
            if name in open_:
                return 0  # a cycle: validation refuses the document
            open_.add(name)
            known = memo[(name, root)] = walk(fragments[name].selection_set, root)
            open_.discard(name)
        return known

    total = 0
    for op in operations_named(document, operation_name):
        total += walk(op.selection_set, True)
    return total
