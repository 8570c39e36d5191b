"""The checks resolvers repeat at run time, so no resolver relies on the document check
(resolvers.authz.document) alone: a refusal there is the rule, these are the backstop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from schema.errors import ForbiddenError

if TYPE_CHECKING:
    from strawberry.types import Info

    from resolvers.authz.policy import SheetPolicy
    from resolvers.context import RequestContext
    from schema.datasheets import Datasheet

__all__ = ["admin_context", "grant_for"]


def admin_context(info: Info, doing: str) -> RequestContext:
    """The request's context if the caller is an admin; ``FORBIDDEN`` ("only admins
    *doing*") otherwise. Admin-only root fields are in ``ADMIN_FIELDS``."""
    ctx: RequestContext = info.context
    if not ctx.policy.admin:
        raise ForbiddenError(f"only admins {doing}")
    return ctx


def grant_for(ctx: RequestContext, sheet: Datasheet) -> SheetPolicy:
    """The caller's grant on *sheet*; ``FORBIDDEN`` if they have none."""
    grant = ctx.policy.sheet(sheet.name)
    if grant is None:
        raise ForbiddenError(f"you may not use {sheet.name}", field=sheet.name)
    return grant
