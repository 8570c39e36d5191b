"""Query and mutation fields for every datasheet, made from its declaration.

The document was authorised before any of these run (resolvers.authz.document): a resolver
here only sees fields the caller may name. What depends on values (variables, and which role
covers which record) is decided here before anything is read or written
(resolvers.authz.scopes): filters need fields readable in full, inputs fields writable, and
every read or change is confined to the rows of a role that allows all of it.

Each resolver is written once, generic in the GraphQL types of a datasheet (the type
variables below); ``query_fields`` and ``mutation_fields`` specialise it to one datasheet's
types (schema.types.SheetTypes) with ``StrawberryField.copy_with``, as Strawberry does for
generic types. A resolver finds its datasheet from the root field it resolves
(``createEmployee``: employees).

Not ``from __future__ import annotations``: Strawberry reads these resolvers' annotations
at runtime.
"""

from typing import Any, TypeVar

import strawberry
from strawberry.types import Info
from strawberry.types.field import StrawberryField

from resolvers.authz.guards import grant_for
from resolvers.authz.policy import root_field_sheet
from resolvers.authz.scopes import ReadPlan, fetch_fields, write_scope
from resolvers.context import RequestContext
from resolvers.reading import Selector, plan_for, read_one, read_page, shown_values
from resolvers.selection import selected_fields
from resolvers.values import input_values
from schema.types import Deleted, PageInfo, SheetTypes, sheet_types
from storage.values import Record

__all__ = ["mutation_fields", "query_fields"]

#: A datasheet's object type (``Employee``), connection, filter and inputs.
Node = TypeVar("Node")
Connection = TypeVar("Connection")
Filter = TypeVar("Filter")
CreateInput = TypeVar("CreateInput")
UpdateInput = TypeVar("UpdateInput")


def _types(info: Info) -> SheetTypes:
    """The types of the datasheet whose root field *info* resolves."""
    name = root_field_sheet(info._raw_info.parent_type.name, info.field_name)
    if name is None:
        raise LookupError(f"{info.field_name} is no field of a datasheet")
    return sheet_types()[name]


def _selector(info: Info) -> Selector:
    return lambda candidates: selected_fields(info, candidates)


def _shown(
    ctx: RequestContext,
    types: SheetTypes,
    record: Record,
    plan: ReadPlan,
    also_hidden: frozenset[str] = frozenset(),
) -> Any:
    """The record as the caller gets it (resolvers.reading.shown_values)."""
    values = shown_values(ctx, types.sheet, record, plan, also_hidden)
    return types.object(
        id=strawberry.ID(record.id),
        version=record.version,
        archived=record.archived,
        created_at=record.created_at,
        updated_at=record.updated_at,
        **values,
    )


async def get_record(info: Info, id: strawberry.ID) -> Node:
    ctx: RequestContext = info.context
    types = _types(info)
    record, plan = await read_one(ctx, types.sheet, _selector(info), str(id))
    return _shown(ctx, types, record, plan)  # type: ignore[no-any-return]


async def get_records(
    info: Info,
    first: int | None = None,
    after: str | None = None,
    filter: Filter | None = None,
    include_archived: bool = False,
) -> Connection:
    ctx: RequestContext = info.context
    types = _types(info)
    given = {} if filter is None else vars(filter)
    page, plan = await read_page(
        ctx,
        types.sheet,
        _selector(info),
        first=first,
        after=after,
        filters={k: v for k, v in given.items() if v is not strawberry.UNSET and v is not None},
        include_archived=include_archived,
    )
    nodes = [_shown(ctx, types, r, plan) for r in page.records]
    edges = [types.edge(cursor=c, node=n) for c, n in zip(page.cursors, nodes, strict=True)]
    return types.connection(  # type: ignore[no-any-return]
        nodes=nodes,
        edges=edges,
        page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
    )


# Mutation results are nullable: one failed mutation among several in a document nulls only
# its own field, so the caller still sees the ones that were written. The answer is a read
# of the changed record, recorded as one.


async def create_record(info: Info, input: CreateInput) -> Node | None:
    ctx: RequestContext = info.context
    types = _types(info)
    sheet, grant = types.sheet, grant_for(ctx, types.sheet)
    values = input_values(sheet, input)
    plan = plan_for(ctx, sheet, grant, _selector(info))
    written = [k for k, v in values.items() if v is not None]
    scope = write_scope(sheet, grant, written, ctx.principal.user_id, needs="create", reading=plan)
    record = await ctx.store.records.create(sheet, values, ctx.actor, scope=scope)
    ctx.access.read(sheet.name, sorted(plan.fields), [record.id])
    return _shown(ctx, types, record, plan)  # type: ignore[no-any-return]


async def update_record(
    info: Info, id: strawberry.ID, expected_version: int, input: UpdateInput
) -> Node | None:
    ctx: RequestContext = info.context
    types = _types(info)
    sheet, grant = types.sheet, grant_for(ctx, types.sheet)
    values = input_values(sheet, input)
    plan = plan_for(ctx, sheet, grant, _selector(info))
    scope = write_scope(sheet, grant, values, ctx.principal.user_id, reading=plan)
    fields = fetch_fields(plan, sheet)
    before_hidden: frozenset[str] = frozenset()
    if plan.row_fields & values.keys():
        # The change moves the record between rows: what was masked where it stood stays
        # masked in the answer, so moving a record cannot unmask it.
        before = await ctx.store.records.get(sheet, str(id), fields, scope=plan.scope)
        if before is not None:
            before_hidden = plan.masked(before.values, before.owner)
    record = await ctx.store.records.update(
        sheet, str(id), expected_version, values, ctx.actor, fields=fields, scope=scope
    )
    ctx.access.read(sheet.name, sorted(plan.fields), [record.id])
    return _shown(ctx, types, record, plan, before_hidden)  # type: ignore[no-any-return]


async def _set_archived(info: Info, id: strawberry.ID, version: int, archived: bool) -> Any:
    ctx: RequestContext = info.context
    types = _types(info)
    sheet, grant = types.sheet, grant_for(ctx, types.sheet)
    plan = plan_for(ctx, sheet, grant, _selector(info))
    scope = write_scope(sheet, grant, (), ctx.principal.user_id, needs="archive", reading=plan)
    fields = fetch_fields(plan, sheet)
    record = await ctx.store.records.set_archived(
        sheet, str(id), version, archived, ctx.actor, fields=fields, scope=scope
    )
    ctx.access.read(sheet.name, sorted(plan.fields), [record.id])
    return _shown(ctx, types, record, plan)


async def archive_record(info: Info, id: strawberry.ID, expected_version: int) -> Node | None:
    return await _set_archived(info, id, expected_version, True)  # type: ignore[no-any-return]


async def restore_record(info: Info, id: strawberry.ID, expected_version: int) -> Node | None:
    return await _set_archived(info, id, expected_version, False)  # type: ignore[no-any-return]


async def delete_record(info: Info, id: strawberry.ID, expected_version: int) -> Deleted | None:
    ctx: RequestContext = info.context
    sheet = _types(info).sheet
    scope = write_scope(sheet, grant_for(ctx, sheet), (), ctx.principal.user_id, needs="delete")
    record = await ctx.store.records.delete(
        sheet, str(id), expected_version, ctx.actor, scope=scope
    )
    return Deleted(id=strawberry.ID(record.id), version=record.version)


def _specialised(types: SheetTypes) -> dict[str, type[Any]]:
    """What each type variable of the resolvers above stands for in *types*' datasheet."""
    return {
        "Node": types.object,
        "Connection": types.connection,
        "Filter": types.filter_input,
        "CreateInput": types.create_input,
        "UpdateInput": types.update_input,
    }


def query_fields(types: SheetTypes) -> dict[str, StrawberryField]:
    sheet, bound = types.sheet, _specialised(types)
    many = (
        f"{sheet.name.capitalize()} in a stable order, `first` at a time after the cursor "
        "`after`; archived ones only with `includeArchived`."
    )
    return {
        sheet.singular: strawberry.field(
            resolver=get_record, description=f"One {sheet.singular} by id."
        ).copy_with(bound),
        sheet.name: strawberry.field(resolver=get_records, description=many).copy_with(bound),
    }


def mutation_fields(types: SheetTypes) -> dict[str, StrawberryField]:
    t, bound = types.sheet.type_name, _specialised(types)
    update = "Change fields if the record is still at `expectedVersion`, else CONFLICT."
    fields = {
        f"create_{t}": strawberry.field(resolver=create_record, name=f"create{t}"),
        f"update_{t}": strawberry.field(
            resolver=update_record, name=f"update{t}", description=update
        ),
        f"archive_{t}": strawberry.field(resolver=archive_record, name=f"archive{t}"),
        f"restore_{t}": strawberry.field(resolver=restore_record, name=f"restore{t}"),
        f"delete_{t}": strawberry.field(resolver=delete_record, name=f"delete{t}"),
    }
    return {name: field.copy_with(bound) for name, field in fields.items()}
