"""The reads of a datasheet, shared by the field resolvers (resolvers.records) and the
compiled read path (resolvers.compiled): the same checks, row scopes, projection, access
events and masks, whichever path serves the request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from resolvers.authz.guards import grant_for
from resolvers.authz.policy import SheetPolicy
from resolvers.authz.scopes import ReadPlan, fetch_fields, read_plan
from resolvers.context import RequestContext
from resolvers.values import check_value
from schema.datasheets import Datasheet
from schema.errors import BadUserInputError, NotFoundError
from storage.values import Page, Record, Value

__all__ = [
    "Selector",
    "plan_for",
    "read_one",
    "read_page",
    "shown_values",
]

#: Given the fields the caller may see (in declaration order), those the query selects.
Selector = Callable[[list[str]], list[str]]


def plan_for(
    ctx: RequestContext,
    sheet: Datasheet,
    grant: SheetPolicy,
    select: Selector,
    full: frozenset[str] = frozenset(),
) -> ReadPlan:
    selected = select([f.name for f in sheet.fields if f.name in grant.visible])
    return read_plan(sheet, grant, selected, ctx.principal.user_id, full=full)


async def read_one(
    ctx: RequestContext, sheet: Datasheet, select: Selector, record_id: str
) -> tuple[Record, ReadPlan]:
    plan = plan_for(ctx, sheet, grant_for(ctx, sheet), select)
    fields = fetch_fields(plan, sheet)
    record = await ctx.store.records.get(sheet, record_id, fields, scope=plan.scope)
    if record is None:
        raise NotFoundError(f"no {sheet.singular} with this id")
    ctx.access.read(sheet.name, sorted(plan.fields), [record.id])
    return record, plan


async def read_page(
    ctx: RequestContext,
    sheet: Datasheet,
    select: Selector,
    *,
    first: int | None,
    after: str | None,
    filters: Mapping[str, Any],
    include_archived: bool,
) -> tuple[Page, ReadPlan]:
    """*filters*: the filter input's given fields (None and unset ones left out)."""
    grant = grant_for(ctx, sheet)
    size = ctx.default_page_size if first is None else first
    if not 0 < size <= ctx.max_page_size:
        raise BadUserInputError(
            f"first must be between 1 and {ctx.max_page_size}", argument="first"
        )
    equals: dict[str, Value] = {
        name: check_value(sheet.by_name[name], value) for name, value in filters.items()
    }
    # Filtering by a field reveals its values: only fields readable in full (read_plan).
    plan = plan_for(ctx, sheet, grant, select, full=frozenset(equals))
    page = await ctx.store.records.page(
        sheet,
        fetch_fields(plan, sheet),
        first=size,
        after=after,
        equals=equals,
        include_archived=include_archived,
        scope=plan.scope,
    )
    ctx.access.read(sheet.name, sorted(plan.fields), [r.id for r in page.records])
    return page, plan


def shown_values(
    ctx: RequestContext,
    sheet: Datasheet,
    record: Record,
    plan: ReadPlan,
    also_hidden: frozenset[str] = frozenset(),
) -> dict[str, object]:
    """The record's values as the caller gets them (``ReadPlan.shown``, the one
    rule for the API and exports); the masked ones are noted in ``ctx.masked`` for the
    response's extensions."""
    values, hidden = plan.shown(sheet, record, also_hidden)
    if hidden:
        ctx.masked.setdefault(sheet.type_name, set()).update(hidden)
    return values
