"""Reading a parsed GraphQL document: which operation a request runs, its fragments, its
root fields. Every module that looks into a document asks here, so they cannot disagree.
"""

from __future__ import annotations

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    OperationDefinitionNode,
    get_operation_ast,
)

__all__ = ["fragments_of", "operation_of", "operations_named", "root_fields"]


def operation_of(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    """The operation a request naming *name* runs, by graphql-core's rule: the one of that
    name, or without a name the only one; None if there is no such single operation (the
    request then runs nothing)."""
    return get_operation_ast(document, name)


def operations_named(document: DocumentNode, name: str | None) -> list[OperationDefinitionNode]:
    """Every operation a request naming *name* could run: the one of that name, or without
    a name all of them. For checks (authorisation, cost, attempts): a document of several
    operations sent without a name is judged by all of them, never by none."""
    return [
        d
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
        and (name is None or (d.name is not None and d.name.value == name))
    ]


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    """The fragment definitions of *document* by name."""
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def root_fields(document: DocumentNode, *, operations_only: bool = False) -> list[str] | None:
    """The root field names of every operation of *document*, once per selection (aliases
    included); None if a fragment stands at a root, or, with *operations_only*, if the
    document defines anything but operations."""
    names: list[str] = []
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            if operations_only:
                return None
            continue
        for selection in definition.selection_set.selections:
            if not isinstance(selection, FieldNode):
                return None
            names.append(selection.name.value)
    return names
