"""GraphQL types made from the datasheet declarations.

For each datasheet: the object type (``Employee``), its connection and edge types for
keyset paging, and the inputs for create, update and equality filters. Built once when
the schema is built; resolvers construct the object types from storage records.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import strawberry

from schema.datasheets import DATASHEETS, Datasheet, Field, FieldType

__all__ = ["PageInfo", "SheetTypes", "sheet_types"]


@strawberry.type(description="Where a page of a keyset-paged list ends.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None = strawberry.field(
        description="Pass as `after` to get the next page; stays valid across inserts and deletes."
    )


@strawberry.type(description="A deleted record's id and the version it had.")
class Deleted:
    id: strawberry.ID
    version: int


@dataclass(frozen=True, slots=True)
class SheetTypes:
    """The GraphQL types of one datasheet."""

    sheet: Datasheet
    object: type[Any]
    edge: type[Any]
    connection: type[Any]
    create_input: type[Any]
    update_input: type[Any]
    filter_input: type[Any]


@cache
def _enum(name: str, values: tuple[str, ...]) -> type[enum.Enum]:
    python_enum: type[enum.Enum] = enum.Enum(name, {v: v for v in values})  # type: ignore[misc]
    return strawberry.enum(python_enum)


def scalar_type(field: Field) -> Any:
    match field.type:
        case FieldType.STRING | FieldType.EMAIL:
            return str
        case FieldType.INT:
            return int
        case FieldType.DATE:
            return dt.date
        case FieldType.ENUM:
            assert field.enum_name is not None
            return _enum(field.enum_name, field.enum_values)


def _make(
    name: str,
    annotations: Mapping[str, Any],
    defaults: Mapping[str, Any],
    *,
    input: bool,
    description: str,
) -> type[Any]:
    namespace: dict[str, Any] = {"__annotations__": dict(annotations), **defaults}
    cls = type(name, (), namespace)
    decorate = strawberry.input if input else strawberry.type
    return decorate(cls, name=name, description=description)


def _described(field: Field, default: Any) -> Any:
    return strawberry.field(default=default, description=field.description or None)


def _build(sheet: Datasheet) -> SheetTypes:
    t = sheet.type_name
    obj_ann: dict[str, Any] = {
        "id": strawberry.ID,
        "version": int,
        "archived": bool,
        "created_at": dt.datetime,
        "updated_at": dt.datetime,
    }
    obj_defaults: dict[str, Any] = {}
    for f in sheet.fields:
        obj_ann[f.name] = scalar_type(f) if f.required else scalar_type(f) | None
        obj_defaults[f.name] = _described(f, None)
    obj = _make(t, obj_ann, obj_defaults, input=False, description=sheet.description)

    edge = _make(
        f"{t}Edge",
        {"cursor": str, "node": obj},
        {},
        input=False,
        description=f"One {sheet.singular} and its cursor.",
    )
    connection = _make(
        f"{t}Connection",
        {"nodes": list[obj], "edges": list[edge], "page_info": PageInfo},  # type: ignore[valid-type]
        {},
        input=False,
        description=f"A page of {sheet.name}.",
    )

    create_ann: dict[str, Any] = {}
    create_defaults: dict[str, Any] = {}
    for f in sorted(sheet.fields, key=lambda f: not f.required):
        create_ann[f.name] = scalar_type(f) if f.required else scalar_type(f) | None
        if not f.required:
            create_defaults[f.name] = _described(f, None)
    create_input = _make(
        f"{t}CreateInput",
        create_ann,
        create_defaults,
        input=True,
        description=f"A new {sheet.singular}.",
    )

    optional = {f.name: scalar_type(f) | None for f in sheet.fields}
    update_input = _make(
        f"{t}UpdateInput",
        optional,
        {f.name: _described(f, strawberry.UNSET) for f in sheet.fields},
        input=True,
        description="Fields to change; an omitted field is left as it is, null clears it.",
    )
    filterable = [f for f in sheet.fields if f.filterable]
    filter_input = _make(
        f"{t}Filter",
        {f.name: scalar_type(f) | None for f in filterable},
        {f.name: _described(f, strawberry.UNSET) for f in filterable},
        input=True,
        description="Equality filters; all given fields must match.",
    )
    return SheetTypes(sheet, obj, edge, connection, create_input, update_input, filter_input)


@cache
def sheet_types() -> Mapping[str, SheetTypes]:
    """The types of every datasheet, built once."""
    return {name: _build(sheet) for name, sheet in DATASHEETS.items()}
