"""Query and mutation fields for every datasheet, made from its declaration.

The document was authorised before any of these run (resolvers.authz.document): a resolver here
only sees fields the caller may name. What depends on values (variables, and which role
covers which record) is decided here before anything is read or written
(resolvers.authz.scopes): filters need fields readable in full, inputs fields writable, and
every read or change is confined to the rows of a role that allows all of it.

Not ``from __future__ import annotations``: Strawberry reads these resolvers' annotations
at runtime, and they name types built at runtime.
"""

from typing import Any, Optional

import strawberry
from strawberry.types import Info

from resolvers.authz.guards import grant_for
from resolvers.authz.policy import SheetPolicy
from resolvers.authz.scopes import ReadPlan, fetch_fields, write_scope
from resolvers.context import RequestContext
from resolvers.reading import (
    Selector,
    plan_for,
    read_one,
    read_page,
    shown_values,
)
from resolvers.selection import selected_fields
from resolvers.values import input_values
from schema.datasheets import Datasheet
from schema.types import Deleted, PageInfo, SheetTypes
from storage.base import Record

__all__ = ["mutation_fields", "query_fields"]


def _ctx(info: Info) -> RequestContext:
    return info.context  # type: ignore[no-any-return]


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


def _selector(info: Info) -> Selector:
    return lambda candidates: selected_fields(info, candidates)


def _plan(info: Info, ctx: RequestContext, sheet: Datasheet, grant: SheetPolicy) -> ReadPlan:
    return plan_for(ctx, sheet, grant, _selector(info))


def query_fields(types: SheetTypes) -> dict[str, Any]:
    sheet: Datasheet = types.sheet

    async def get_one(info: Info, id: strawberry.ID) -> Any:
        ctx = _ctx(info)
        record, plan = await read_one(ctx, sheet, _selector(info), str(id))
        return _shown(ctx, types, record, plan)

    async def get_many(
        info: Info,
        first: Optional[int] = None,  # noqa: UP045
        after: Optional[str] = None,  # noqa: UP045
        filter: Any = None,
        include_archived: bool = False,
    ) -> Any:
        ctx = _ctx(info)
        filters = {}
        if filter is not None:
            for name, value in vars(filter).items():
                if value is not strawberry.UNSET and value is not None:
                    filters[name] = value
        page, plan = await read_page(
            ctx,
            sheet,
            _selector(info),
            first=first,
            after=after,
            filters=filters,
            include_archived=include_archived,
        )
        nodes = [_shown(ctx, types, r, plan) for r in page.records]
        edges = [types.edge(cursor=c, node=n) for c, n in zip(page.cursors, nodes, strict=True)]
        return types.connection(
            nodes=nodes,
            edges=edges,
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        )

    get_one.__annotations__ = {"info": Info, "id": strawberry.ID, "return": types.object}
    get_many.__annotations__ = {
        "info": Info,
        "first": Optional[int],  # noqa: UP045
        "after": Optional[str],  # noqa: UP045
        "filter": Optional[types.filter_input],  # noqa: UP045
        "include_archived": bool,
        "return": types.connection,
    }
    return {
        sheet.singular: strawberry.field(
            resolver=get_one, description=f"One {sheet.singular} by id."
        ),
        sheet.name: strawberry.field(
            resolver=get_many,
            description=(
                f"{sheet.name.capitalize()} in a stable order, `first` at a time after the cursor "
                "`after`; archived ones only with `includeArchived`."
            ),
        ),
    }


def mutation_fields(types: SheetTypes) -> dict[str, Any]:
    sheet = types.sheet
    t = sheet.type_name

    def _done(
        ctx: RequestContext,
        record: Record,
        plan: ReadPlan,
        also_hidden: frozenset[str] = frozenset(),
    ) -> Any:
        ctx.access.read(sheet.name, sorted(plan.fields), [record.id])
        return _shown(ctx, types, record, plan, also_hidden)

    async def create(info: Info, input: Any) -> Any:
        ctx = _ctx(info)
        grant = grant_for(ctx, sheet)
        values = input_values(sheet, input)
        plan = _plan(info, ctx, sheet, grant)
        written = [k for k, v in values.items() if v is not None]
        scope = write_scope(
            sheet, grant, written, ctx.principal.user_id, needs="create", reading=plan
        )
        record = await ctx.store.create(sheet, values, ctx.actor, scope=scope)
        return _done(ctx, record, plan)

    async def update(info: Info, id: strawberry.ID, expected_version: int, input: Any) -> Any:
        ctx = _ctx(info)
        grant = grant_for(ctx, sheet)
        values = input_values(sheet, input)
        plan = _plan(info, ctx, sheet, grant)
        scope = write_scope(sheet, grant, values, ctx.principal.user_id, reading=plan)
        before_hidden: frozenset[str] = frozenset()
        if plan.row_fields & values.keys():
            # The change moves the record between rows: what was masked where it stood
            # stays masked in the answer, so moving a record cannot unmask it.
            before = await ctx.store.get(
                sheet, str(id), fetch_fields(plan, sheet), scope=plan.scope
            )
            if before is not None:
                before_hidden = plan.masked(before.values, before.owner)
        record = await ctx.store.update(
            sheet,
            str(id),
            expected_version,
            values,
            ctx.actor,
            fields=fetch_fields(plan, sheet),
            scope=scope,
        )
        return _done(ctx, record, plan, before_hidden)

    async def set_archived(info: Info, id: strawberry.ID, version: int, archived: bool) -> Any:
        ctx = _ctx(info)
        grant = grant_for(ctx, sheet)
        plan = _plan(info, ctx, sheet, grant)
        scope = write_scope(sheet, grant, (), ctx.principal.user_id, needs="archive", reading=plan)
        record = await ctx.store.set_archived(
            sheet,
            str(id),
            version,
            archived,
            ctx.actor,
            fields=fetch_fields(plan, sheet),
            scope=scope,
        )
        return _done(ctx, record, plan)

    async def archive(info: Info, id: strawberry.ID, expected_version: int) -> Any:
        return await set_archived(info, id, expected_version, True)

    async def restore(info: Info, id: strawberry.ID, expected_version: int) -> Any:
        return await set_archived(info, id, expected_version, False)

    async def delete(info: Info, id: strawberry.ID, expected_version: int) -> Any:
        ctx = _ctx(info)
        grant = grant_for(ctx, sheet)
        scope = write_scope(sheet, grant, (), ctx.principal.user_id, needs="delete")
        record = await ctx.store.delete(sheet, str(id), expected_version, ctx.actor, scope=scope)
        return Deleted(id=strawberry.ID(record.id), version=record.version)

    # Mutation results are nullable: one failed mutation among several in a document
    # nulls only its own field, so the caller still sees the ones that were written.
    result: Any = Optional.__getitem__(types.object)
    versioned = {"info": Info, "id": strawberry.ID, "expected_version": int}
    create.__annotations__ = {"info": Info, "input": types.create_input, "return": result}
    update.__annotations__ = {**versioned, "input": types.update_input, "return": result}
    archive.__annotations__ = {**versioned, "return": result}
    restore.__annotations__ = {**versioned, "return": result}
    delete.__annotations__ = {**versioned, "return": Optional[Deleted]}  # noqa: UP045
    return {
        f"create_{t}": strawberry.field(resolver=create, name=f"create{t}"),
        f"update_{t}": strawberry.field(
            resolver=update,
            name=f"update{t}",
            description="Change fields if the record is still at `expectedVersion`, else CONFLICT.",
        ),
        f"archive_{t}": strawberry.field(resolver=archive, name=f"archive{t}"),
        f"restore_{t}": strawberry.field(resolver=restore, name=f"restore{t}"),
        f"delete_{t}": strawberry.field(resolver=delete, name=f"delete{t}"),
    }
