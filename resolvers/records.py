"""Query and mutation fields for every datasheet, made from its declaration.

The document was authorised before any of these run (resolvers.authorize): a resolver here
only sees fields the caller may read. What the document cannot show, because it arrives in
variables, is checked here before anything is read or written: filter fields must be
readable, input fields writable, and rows within the caller's row filter.

Not ``from __future__ import annotations``: Strawberry reads these resolvers' annotations
at runtime, and they name types built at runtime.
"""

from collections.abc import Iterable
from typing import Any, Optional

import strawberry
from strawberry.types import Info

from resolvers.context import RequestContext
from resolvers.masking import mask
from resolvers.policy import SheetPolicy
from resolvers.selection import selected_fields
from resolvers.values import check_value, input_values
from schema.datasheets import Datasheet
from schema.errors import BadUserInputError, ForbiddenError, NotFoundError
from schema.types import Deleted, PageInfo, SheetTypes
from storage.base import Record, RowScope

__all__ = ["mutation_fields", "query_fields"]


def _ctx(info: Info) -> RequestContext:
    return info.context  # type: ignore[no-any-return]


def _grant(ctx: RequestContext, sheet: Datasheet) -> SheetPolicy:
    grant = ctx.policy.sheet(sheet.name)
    if grant is None:  # authorisation refuses this earlier; never rely on that alone
        raise ForbiddenError(f"you may not use {sheet.name}", field=sheet.name)
    return grant


def _scope(ctx: RequestContext, grant: SheetPolicy) -> RowScope:
    return RowScope(rows=grant.rows, caller=ctx.principal.user_id)


def _require(names: Iterable[str], allowed: frozenset[str], sheet: Datasheet, what: str) -> None:
    for name in sorted(names):
        if name not in allowed:
            field = f"{sheet.type_name}.{name}"
            raise ForbiddenError(f"you may not {what} {field}", field=field)


def to_object(types: SheetTypes, record: Record, grant: SheetPolicy) -> Any:
    values: dict[str, object] = dict(record.values)
    for name in grant.mask.intersection(values):
        values[name] = mask(types.sheet.by_name[name], values[name])
    return types.object(
        id=strawberry.ID(record.id),
        version=record.version,
        archived=record.archived,
        created_at=record.created_at,
        updated_at=record.updated_at,
        **values,
    )


def _seen(
    ctx: RequestContext,
    types: SheetTypes,
    record: Record,
    grant: SheetPolicy,
    fields: Optional[list[str]] = None,  # noqa: UP045
) -> Any:
    """The record as the caller gets it; its personal-data fields go to the access log."""
    ctx.access.read(
        types.sheet.name, fields if fields is not None else list(record.values), [record.id]
    )
    return to_object(types, record, grant)


def _visible(info: Info, sheet: Datasheet, grant: SheetPolicy) -> list[str]:
    """The selected fields the caller may see, in declaration order."""
    return selected_fields(info, [f.name for f in sheet.fields if f.name in grant.visible])


def query_fields(types: SheetTypes) -> dict[str, Any]:
    sheet: Datasheet = types.sheet

    async def get_one(info: Info, id: strawberry.ID) -> Any:
        ctx = _ctx(info)
        grant = _grant(ctx, sheet)
        record = await ctx.store.get(
            sheet, str(id), _visible(info, sheet, grant), scope=_scope(ctx, grant)
        )
        if record is None:
            raise NotFoundError(f"no {sheet.singular} with this id", id=str(id))
        return _seen(ctx, types, record, grant)

    async def get_many(
        info: Info,
        first: Optional[int] = None,  # noqa: UP045
        after: Optional[str] = None,  # noqa: UP045
        filter: Any = None,
        include_archived: bool = False,
    ) -> Any:
        ctx = _ctx(info)
        grant = _grant(ctx, sheet)
        size = ctx.default_page_size if first is None else first
        if not 0 < size <= ctx.max_page_size:
            raise BadUserInputError(
                f"first must be between 1 and {ctx.max_page_size}", argument="first"
            )
        equals = {}
        if filter is not None:
            for name, value in vars(filter).items():
                if value is not strawberry.UNSET and value is not None:
                    equals[name] = check_value(sheet.by_name[name], value)
        # Filtering by a field reveals its values: only fields the caller may read in full.
        _require(equals, grant.read, sheet, "filter by")
        page = await ctx.store.page(
            sheet,
            _visible(info, sheet, grant),
            first=size,
            after=after,
            equals=equals,
            include_archived=include_archived,
            scope=_scope(ctx, grant),
        )
        fields = [f for f in page.records[0].values] if page.records else []
        ctx.access.read(sheet.name, fields, [r.id for r in page.records])
        nodes = [to_object(types, r, grant) for r in page.records]
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

    async def create(info: Info, input: Any) -> Any:
        ctx = _ctx(info)
        grant = _grant(ctx, sheet)
        values = input_values(sheet, input)
        _require((k for k, v in values.items() if v is not None), grant.write, sheet, "write")
        record = await ctx.store.create(sheet, values, ctx.actor, scope=_scope(ctx, grant))
        return _seen(ctx, types, record, grant, _visible(info, sheet, grant))

    async def update(info: Info, id: strawberry.ID, expected_version: int, input: Any) -> Any:
        ctx = _ctx(info)
        grant = _grant(ctx, sheet)
        values = input_values(sheet, input)
        _require(values, grant.write, sheet, "write")
        record = await ctx.store.update(
            sheet,
            str(id),
            expected_version,
            values,
            ctx.actor,
            fields=_visible(info, sheet, grant),
            scope=_scope(ctx, grant),
        )
        return _seen(ctx, types, record, grant)

    async def set_archived(info: Info, id: strawberry.ID, version: int, archived: bool) -> Any:
        ctx = _ctx(info)
        grant = _grant(ctx, sheet)
        record = await ctx.store.set_archived(
            sheet,
            str(id),
            version,
            archived,
            ctx.actor,
            fields=_visible(info, sheet, grant),
            scope=_scope(ctx, grant),
        )
        return _seen(ctx, types, record, grant)

    async def archive(info: Info, id: strawberry.ID, expected_version: int) -> Any:
        return await set_archived(info, id, expected_version, True)

    async def restore(info: Info, id: strawberry.ID, expected_version: int) -> Any:
        return await set_archived(info, id, expected_version, False)

    async def delete(info: Info, id: strawberry.ID, expected_version: int) -> Deleted:
        ctx = _ctx(info)
        grant = _grant(ctx, sheet)
        record = await ctx.store.delete(
            sheet, str(id), expected_version, ctx.actor, scope=_scope(ctx, grant)
        )
        return Deleted(id=strawberry.ID(record.id), version=record.version)

    versioned = {"info": Info, "id": strawberry.ID, "expected_version": int}
    create.__annotations__ = {"info": Info, "input": types.create_input, "return": types.object}
    update.__annotations__ = {**versioned, "input": types.update_input, "return": types.object}
    archive.__annotations__ = {**versioned, "return": types.object}
    restore.__annotations__ = {**versioned, "return": types.object}
    delete.__annotations__ = {**versioned, "return": Deleted}
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
