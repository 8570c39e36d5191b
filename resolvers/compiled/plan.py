"""Selections compiled to tables: what to emit under each response key.

Fields are collected as graphql-core collects them (response keys in order of first
appearance, selections under one key merged, fragments followed once, ``@skip`` and
``@include`` applied), and each leaf becomes a getter from a fixed set, parameterised by
schema names and the schema type's own ``serialize``. Response keys (aliases) are only
ever dictionary keys; nothing from a request becomes code.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLID,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    is_non_null_type,
)

from resolvers.compiled.collect import Collector, Fields
from resolvers.compiled.errors import FallbackError, UnsupportedDocumentError
from resolvers.selection import names_under
from schema.datasheets import DATASHEETS, Datasheet
from storage.values import Record

__all__ = [
    "ObjectTable",
    "RootField",
    "compile_roots",
]


Getter = Callable[[Record, Mapping[str, object]], object]
#: (response key, getter) for each key selected on a datasheet object.
ObjectTable = tuple[tuple[str, Getter], ...]
#: (response key, kind, argument) for connection, edge and page-info objects.
Shape = tuple[tuple[str, str, Any], ...]

_META = {
    "id": "id",
    "version": "version",
    "archived": "archived",
    "createdAt": "created_at",
    "updatedAt": "updated_at",
}
_LIST_ROOTS = {s.name: s for s in DATASHEETS.values()}
_ONE_ROOTS = {s.singular: s for s in DATASHEETS.values()}


def _checked(value: object) -> object:
    if value is None:  # graphql-core makes this an error
        raise FallbackError
    return value


def serializer(named: GraphQLNamedType) -> Callable[[Any], object]:
    """The schema type's own serialisation (a shortcut for strings that are already so)."""
    if not isinstance(named, GraphQLScalarType | GraphQLEnumType):
        raise UnsupportedDocumentError(named.name)
    serialize = named.serialize
    if named is GraphQLString or named is GraphQLID:

        def text(value: Any) -> object:
            return value if type(value) is str else _checked(serialize(value))

        return text
    return lambda value: _checked(serialize(value))


def _value(name: str, serialize: Callable[[Any], object], non_null: bool) -> Getter:
    def get(record: Record, values: Mapping[str, object]) -> object:
        value = values.get(name)
        if value is None:
            if non_null:
                raise FallbackError
            return None
        return serialize(value)

    return get


def _meta(attribute: str, serialize: Callable[[Any], object]) -> Getter:
    read = operator.attrgetter(attribute)
    return lambda record, values: serialize(read(record))


def _constant(value: str) -> Getter:
    return lambda record, values: value


def _field(parent: GraphQLObjectType, name: str) -> GraphQLField:
    definition: GraphQLField | None = parent.fields.get(name)
    if definition is None:
        raise UnsupportedDocumentError(name)
    return definition


def object_table(obj: GraphQLObjectType, sheet: Datasheet, fields: Fields) -> ObjectTable:
    entries: list[tuple[str, Getter]] = []
    for key, nodes in fields.items():
        name = nodes[0].name.value
        if name == "__typename":
            entries.append((key, _constant(obj.name)))
            continue
        definition = _field(obj, name)
        serialize = serializer(get_named_type(definition.type))
        if name in _META:
            entries.append((key, _meta(_META[name], serialize)))
        elif name in sheet.by_name:
            entries.append((key, _value(name, serialize, is_non_null_type(definition.type))))
        else:
            raise UnsupportedDocumentError(name)
    return tuple(entries)


def _object_type(parent: GraphQLObjectType, name: str) -> GraphQLObjectType:
    named = get_named_type(_field(parent, name).type)
    if not isinstance(named, GraphQLObjectType):
        raise UnsupportedDocumentError(name)
    return named


def _sub(nodes: list[FieldNode]) -> list[SelectionSetNode | None]:
    return [n.selection_set for n in nodes]


def _edge_shape(edge: GraphQLObjectType, sheet: Datasheet, fields: Fields, c: Collector) -> Shape:
    entries: list[tuple[str, str, Any]] = []
    for key, nodes in fields.items():
        name = nodes[0].name.value
        if name == "__typename":
            entries.append((key, "typename", edge.name))
        elif name == "cursor":
            entries.append((key, "cursor", serializer(get_named_type(_field(edge, name).type))))
        elif name == "node":
            obj = _object_type(edge, name)
            table = object_table(obj, sheet, c.collect(_sub(nodes), obj.name))
            entries.append((key, "node", table))
        else:
            raise UnsupportedDocumentError(name)
    return tuple(entries)


def connection_shape(
    connection: GraphQLObjectType,
    sheet: Datasheet,
    fields: Fields,
    c: Collector,
) -> Shape:
    entries: list[tuple[str, str, Any]] = []
    for key, nodes in fields.items():
        name = nodes[0].name.value
        if name == "__typename":
            entries.append((key, "typename", connection.name))
            continue
        target = _object_type(connection, name)
        sub = c.collect(_sub(nodes), target.name)
        if name == "nodes":
            entries.append((key, "nodes", object_table(target, sheet, sub)))
        elif name == "edges":
            entries.append((key, "edges", _edge_shape(target, sheet, sub, c)))
        elif name == "pageInfo":
            info: list[tuple[str, str, Any]] = []
            for k, n in sub.items():
                field_name = n[0].name.value
                if field_name == "__typename":
                    info.append((k, "typename", target.name))
                elif field_name in ("hasNextPage", "endCursor"):
                    kind = get_named_type(_field(target, field_name).type)
                    info.append((k, field_name, serializer(kind)))
                else:
                    raise UnsupportedDocumentError(field_name)
            entries.append((key, "pageInfo", tuple(info)))
        else:
            raise UnsupportedDocumentError(name)
    return tuple(entries)


@dataclass(frozen=True, slots=True)
class RootField:
    key: str
    #: "typename", "list" (a page of records) or "one" (a record by id)
    kind: str
    sheet: Datasheet | None = None
    node: FieldNode | None = None
    definition: GraphQLField | None = None
    #: Field names anywhere under the root field, as the resolvers' read plan counts them.
    names: frozenset[str] = frozenset()
    shape: Any = None


def compile_roots(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any] | None,
) -> tuple[RootField, ...]:
    """The root fields of a query operation; ``UnsupportedDocumentError`` for anything but
    datasheet reads and ``__typename``. With *variables* None: a structural check, all
    included."""
    query = schema.query_type
    if query is None or operation.operation.value != "query":
        raise UnsupportedDocumentError("operation")
    c = Collector(fragments, variables)
    roots: list[RootField] = []
    for key, nodes in c.collect([operation.selection_set], query.name).items():
        name = nodes[0].name.value
        if name == "__typename":
            roots.append(RootField(key, "typename", shape=query.name))
            continue
        sheet = _LIST_ROOTS.get(name) or _ONE_ROOTS.get(name)
        if sheet is None:
            raise UnsupportedDocumentError(name)
        definition = _field(query, name)
        target = _object_type(query, name)
        sub = c.collect(_sub(nodes), target.name)
        names = frozenset(names_under(nodes, fragments))
        if name in _LIST_ROOTS:
            shape: Any = connection_shape(target, sheet, sub, c)
            roots.append(RootField(key, "list", sheet, nodes[0], definition, names, shape))
        else:
            shape = object_table(target, sheet, sub)
            roots.append(RootField(key, "one", sheet, nodes[0], definition, names, shape))
    return tuple(roots)
