"""Which datasheet fields a query selects, so storage fetches and decrypts only those."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from graphql import FieldNode, FragmentDefinitionNode, FragmentSpreadNode, InlineFragmentNode
from graphql.language import SelectionSetNode
from strawberry.types import Info

__all__ = ["names_under", "selected_fields"]


def _walk(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    names: set[str],
    seen: set[str],
) -> None:
    if selection_set is None:
        return
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            names.add(sel.name.value)
            _walk(sel.selection_set, fragments, names, seen)
        elif isinstance(sel, InlineFragmentNode):
            _walk(sel.selection_set, fragments, names, seen)
        elif isinstance(sel, FragmentSpreadNode) and sel.name.value not in seen:
            seen.add(sel.name.value)
            fragment = fragments.get(sel.name.value)
            if fragment is not None:
                _walk(fragment.selection_set, fragments, names, seen)


def names_under(
    nodes: Iterable[FieldNode], fragments: Mapping[str, FragmentDefinitionNode]
) -> set[str]:
    """Every field name anywhere under *nodes*, fragments included, directives ignored."""
    names: set[str] = set()
    seen: set[str] = set()  # a fragment's names are in *names* once it has been walked
    for node in nodes:
        _walk(node.selection_set, dict(fragments), names, seen)
    return names


def selected_fields(info: Info, candidates: Iterable[str]) -> list[str]:
    """The *candidates* named anywhere under the current field, fragments included.

    Over-approximates (a name under ``@skip`` still counts): it decides what is fetched,
    never what may be seen.
    """
    raw = info._raw_info  # graphql-core's ResolveInfo: field nodes and fragments
    names = names_under(raw.field_nodes, raw.fragments)
    return [c for c in candidates if c in names]
