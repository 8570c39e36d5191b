"""A signed-in user's own account: who they are, sign out, second factor, password; and the admin's
switches for passwords and required two-factor sign-in.

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import strawberry
from strawberry.types import Info

from resolvers.authz.guards import admin_context
from resolvers.context import RequestContext
from schema.accounts import Me, TotpEnrollment

__all__ = ["AccountMutation", "MeQuery"]


@strawberry.type
class MeQuery:
    @strawberry.field(description="The caller: their user id, roles and export permission.")
    def me(self, info: Info) -> Me:
        ctx: RequestContext = info.context
        return Me(
            id=strawberry.ID(ctx.principal.user_id),
            roles=list(ctx.policy.roles),
            can_export=ctx.policy.can_export,
            policy_version=ctx.policy.version,
        )


@strawberry.type
class AccountMutation:
    @strawberry.mutation(description="End this session: its tokens stop working at once.")
    async def logout(self, info: Info) -> bool:
        ctx: RequestContext = info.context
        await ctx.account.logout(ctx.principal)
        return True

    @strawberry.mutation(
        description="Start enrolling a TOTP second factor; replacing an active one needs a "
        "current `code`."
    )
    async def enroll_totp(
        self,
        info: Info,
        code: str | None = None,
    ) -> TotpEnrollment:
        ctx: RequestContext = info.context
        secret, uri = await ctx.account.enroll_totp(ctx.principal, ctx.actor, code)
        return TotpEnrollment(secret=secret, uri=uri)

    @strawberry.mutation(description="Confirm the second factor with a current code.")
    async def confirm_totp(self, info: Info, code: str) -> bool:
        ctx: RequestContext = info.context
        await ctx.account.confirm_totp(ctx.principal, code, ctx.actor)
        return True

    @strawberry.mutation(description="Change your own password.")
    async def change_password(self, info: Info, current: str, new: str) -> bool:
        ctx: RequestContext = info.context
        await ctx.account.change_password(ctx.principal, current, new, ctx.actor)
        return True

    @strawberry.mutation(description="Set a user's password (admin only).")
    async def set_user_password(self, info: Info, id: strawberry.ID, password: str) -> bool:
        ctx = admin_context(info, "set other users' passwords")
        await ctx.account.set_password(ctx.principal.tenant_id, str(id), password, ctx.actor)
        return True

    @strawberry.mutation(description="Require two-factor sign-in for everyone in the tenant.")
    async def require_two_factor(self, info: Info, required: bool) -> bool:
        ctx = admin_context(info, "change sign-in rules")
        await ctx.account.require_two_factor(ctx.principal.tenant_id, required, ctx.actor)
        return required
