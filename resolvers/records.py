"""Query and mutation fields for every datasheet, made from its declaration.

Not ``from __future__ import annotations``: Strawberry reads these resolvers' annotations
at runtime, and they name types built at runtime.
"""

from typing import Any, Optional

import strawberry
from strawberry.types import Info

from resolvers.context import RequestContext
from resolvers.selection import selected_fields
from resolvers.values import check_value, input_values
from schema.datasheets import Datasheet
from schema.errors import BadUserInputError, NotFoundError
from schema.types import Deleted, PageInfo, SheetTypes
from storage.base import Record

__all__ = ["mutation_fields", "query_fields"]


def _ctx(info: Info) -> RequestContext:
    return info.context  # type: ignore[no-any-return]


def to_object(types: SheetTypes, record: Record) -> Any:
    return types.object(
        id=strawberry.ID(record.id),
        version=record.version,
        archived=record.archived,
        created_at=record.created_at,
        updated_at=record.updated_at,
        **record.values,
    )


def query_fields(types: SheetTypes) -> dict[str, Any]:
    sheet: Datasheet = types.sheet
    names = [f.name for f in sheet.fields]

    async def get_one(info: Info, id: strawberry.ID) -> Any:
        ctx = _ctx(info)
        record = await ctx.store.get(sheet, str(id), selected_fields(info, names))
        if record is None:
            raise NotFoundError(f"no {sheet.singular} with this id", id=str(id))
        return to_object(types, record)

    async def get_many(
        info: Info,
        first: Optional[int] = None,  # noqa: UP045
        after: Optional[str] = None,  # noqa: UP045
        filter: Any = None,
        include_archived: bool = False,
    ) -> Any:
        ctx = _ctx(info)
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
        page = await ctx.store.page(
            sheet,
            selected_fields(info, names),
            first=size,
            after=after,
            equals=equals,
            include_archived=include_archived,
        )
        nodes = [to_object(types, r) for r in page.records]
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
        values = input_values(sheet, input)
        return to_object(types, await ctx.store.create(sheet, values, ctx.actor))

    async def update(info: Info, id: strawberry.ID, expected_version: int, input: Any) -> Any:
        ctx = _ctx(info)
        values = input_values(sheet, input)
        record = await ctx.store.update(sheet, str(id), expected_version, values, ctx.actor)
        return to_object(types, record)

    async def archive(info: Info, id: strawberry.ID, expected_version: int) -> Any:
        ctx = _ctx(info)
        record = await ctx.store.set_archived(sheet, str(id), expected_version, True, ctx.actor)
        return to_object(types, record)

    async def restore(info: Info, id: strawberry.ID, expected_version: int) -> Any:
        ctx = _ctx(info)
        record = await ctx.store.set_archived(sheet, str(id), expected_version, False, ctx.actor)
        return to_object(types, record)

    async def delete(info: Info, id: strawberry.ID, expected_version: int) -> Deleted:
        ctx = _ctx(info)
        record = await ctx.store.delete(sheet, str(id), expected_version, ctx.actor)
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
