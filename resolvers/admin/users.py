"""Users over GraphQL: list, what one may do, create, change roles (admins only).

Every change goes through the audited write path and is announced to every gateway
process (``RequestContext.policies``), so it is in force everywhere within a second.

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import asyncio

import strawberry
from strawberry.types import Info

from resolvers.admin.permissions import sheet_permission
from resolvers.admin.roles import admin
from resolvers.authz.policy import Policy, compile_policy
from resolvers.context import RequestContext
from resolvers.selection import selected_fields
from resolvers.values import email_address
from schema.accounts import EffectivePermissions, UserSession, UserType
from schema.errors import NotFoundError
from storage.values import User

__all__ = ["UserMutation", "UserQuery"]


def _user(user: User, two_factor: bool) -> UserType:
    return UserType(
        id=strawberry.ID(user.id),
        email=user.email,
        roles=list(user.roles),
        can_export=user.can_export,
        version=user.version,
        two_factor_enabled=two_factor,
    )


#: Credential lookups ``users { twoFactorEnabled }`` runs concurrently.
_LOOKUPS_AT_ONCE = 16


async def _two_factor(ctx: RequestContext, info: Info, users: list[User]) -> list[bool]:
    """Whether each of *users* has TOTP set up, looked up only when the query asks."""
    if not selected_fields(info, ["twoFactorEnabled"]):
        return [False] * len(users)
    found = []
    # A few lookups at a time: a tenant's whole user list must not open as many database
    # requests at once as it has users.
    for start in range(0, len(users), _LOOKUPS_AT_ONCE):
        chunk = users[start : start + _LOOKUPS_AT_ONCE]
        found += await asyncio.gather(*(ctx.store.credentials.by_id(u.id) for u in chunk))
    return [c is not None and c.totp_enabled for c in found]


async def _shown(ctx: RequestContext, info: Info, user: User) -> UserType:
    (two_factor,) = await _two_factor(ctx, info, [user])
    return _user(user, two_factor)


async def _policy_of(ctx: RequestContext, user: User) -> Policy:
    roles = {r.definition.name: r.definition for r in await ctx.store.roles.all()}
    version = await ctx.store.roles.policy_version()
    return compile_policy(user.roles, roles, version=version, can_export=user.can_export)


@strawberry.type
class UserQuery:
    @strawberry.field(description="Every user of the tenant.")
    async def users(self, info: Info) -> list[UserType]:
        ctx = admin(info)
        users = await ctx.store.users.all()
        if users and selected_fields(info, ["email"]):  # a user's email is personal data
            ctx.access.read("users", ["email"], sorted(u.id for u in users))
        two_factor = await _two_factor(ctx, info, users)
        return [_user(u, t) for u, t in zip(users, two_factor, strict=True)]

    @strawberry.field(description="A user's sign-in sessions open now, newest first.")
    async def user_sessions(self, info: Info, user_id: strawberry.ID) -> list[UserSession]:
        ctx = admin(info)
        if await ctx.store.users.get(str(user_id)) is None:
            raise NotFoundError("no user with this id", argument="userId")
        return [
            UserSession(
                id=strawberry.ID(s.id),
                opened_at=s.opened_at,
                expires_at=s.expires_at,
                two_factor=s.second_factor,
            )
            for s in await ctx.store.sessions.of_user(str(user_id))
        ]

    @strawberry.field(description="What a user can see and do right now.")
    async def effective_permissions(
        self, info: Info, user_id: strawberry.ID
    ) -> EffectivePermissions:
        ctx = admin(info)
        user = await ctx.store.users.get(str(user_id))
        if user is None:
            raise NotFoundError("no user with this id", argument="userId")
        policy = await _policy_of(ctx, user)
        return EffectivePermissions(
            user_id=user_id,
            roles=list(policy.roles),
            admin=policy.admin,
            can_export=policy.can_export,
            policy_version=policy.version,
            sheets=[sheet_permission(n, p) for n, p in sorted(policy.sheets.items())],
        )


@strawberry.type
class UserMutation:
    @strawberry.mutation(description="Create a user with roles and export permission.")
    async def create_user(
        self,
        info: Info,
        email: str,
        roles: list[str],
        can_export: bool = False,
        password: str | None = None,
    ) -> UserType:
        ctx = admin(info)
        address = email_address(email)
        tenant_id = ctx.principal.tenant_id
        # Hashed first: a refusal (too short, or 429 from a busy hashing pool) creates nothing.
        hashed = None if password is None else await ctx.account.check_password(tenant_id, password)
        user = await ctx.store.users.create(address, roles, ctx.actor, can_export=can_export)
        if hashed is not None:
            await ctx.account.set_password_hash(tenant_id, user.id, hashed, ctx.actor)
        await ctx.policies.changed(ctx.principal.tenant_id)
        return await _shown(ctx, info, user)

    @strawberry.mutation(
        description="Change a user's roles and/or export permission (export is per user)."
    )
    async def update_user(
        self,
        info: Info,
        id: strawberry.ID,
        expected_version: int,
        roles: list[str] | None = None,
        can_export: bool | None = None,
    ) -> UserType:
        ctx = admin(info)
        user = await ctx.store.users.update(
            str(id), expected_version, ctx.actor, roles=roles, can_export=can_export
        )
        await ctx.policies.changed(ctx.principal.tenant_id)
        return await _shown(ctx, info, user)
