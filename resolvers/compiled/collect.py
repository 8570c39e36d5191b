"""Fields collected as graphql-core collects them: response keys in order of first
appearance, selections under one key merged, each fragment followed once per collection,
``@skip`` and ``@include`` applied."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from graphql import (
    BooleanValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
    VariableNode,
)

from resolvers.compiled.errors import FallbackError, UnsupportedDocumentError

__all__ = ["Collector", "Fields"]

Fields = dict[str, list[FieldNode]]


class Collector:
    """Collects fields; with *variables* None, every field is included (a structural walk)."""

    def __init__(
        self,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any] | None,
    ) -> None:
        self.fragments = fragments
        self.variables = variables

    def collect(self, selection_sets: Iterable[SelectionSetNode | None], type_name: str) -> Fields:
        fields: Fields = {}
        visited: set[str] = set()
        for selection_set in selection_sets:
            if selection_set is not None:
                self._into(selection_set, type_name, fields, visited)
        return fields

    def _into(
        self, selection_set: SelectionSetNode, type_name: str, fields: Fields, visited: set[str]
    ) -> None:
        for sel in selection_set.selections:
            if not self._included(sel):
                continue
            if isinstance(sel, FieldNode):
                key = sel.alias.value if sel.alias else sel.name.value
                fields.setdefault(key, []).append(sel)
            elif isinstance(sel, InlineFragmentNode):
                condition = sel.type_condition
                if condition is None or condition.name.value == type_name:
                    self._into(sel.selection_set, type_name, fields, visited)
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                if name in visited:
                    continue
                visited.add(name)
                fragment = self.fragments.get(name)
                if fragment is not None and fragment.type_condition.name.value == type_name:
                    self._into(fragment.selection_set, type_name, fields, visited)
            else:
                raise UnsupportedDocumentError("selection")

    def _included(self, node: FieldNode | InlineFragmentNode | FragmentSpreadNode | Any) -> bool:
        for directive in node.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                raise UnsupportedDocumentError(name)
            if self.variables is None:
                continue
            arg = next((a for a in directive.arguments or () if a.name.value == "if"), None)
            if arg is None:
                raise UnsupportedDocumentError(name)
            if isinstance(arg.value, BooleanValueNode):
                flag: object = arg.value.value
            elif isinstance(arg.value, VariableNode):
                flag = self.variables.get(arg.value.name.value)
            else:
                raise UnsupportedDocumentError(name)
            if not isinstance(flag, bool):
                raise FallbackError
            if (name == "skip") == flag:
                return False
        return True
