"""Roles over GraphQL: list, version history, diff, create, replace, delete (admins only).

Every change goes through the audited write path and is announced to every gateway
process (``RequestContext.policies``), so it is in force everywhere within a second.
Validation is strict: an unknown datasheet, field or role is ``BAD_USER_INPUT`` naming it.

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

from typing import Any

import strawberry
from strawberry.types import Info

from resolvers.admin.rolediff import role_diff
from resolvers.authz.guards import admin_context
from resolvers.context import RequestContext
from schema.errors import BadUserInputError, NotFoundError
from schema.grants import (
    FieldEquals,
    RoleDiffType,
    RoleInput,
    RoleType,
    RoleVersionType,
    RowFilterType,
    SheetGrantType,
)
from schema.roles import (
    ADMIN,
    FIELD_LISTS,
    FLAGS,
    Access,
    RoleDefinition,
    RowFilter,
    SheetGrant,
    validate_role,
)
from storage.values import Role

__all__ = ["RoleMutation", "RoleQuery", "access_fields", "admin", "row_filter_type"]


def admin(info: Info) -> RequestContext:
    """The context of a request that manages roles, users or API keys."""
    return admin_context(info, "manage roles and users")


def row_filter_type(f: RowFilter) -> RowFilterType:
    return RowFilterType(
        equals=[FieldEquals(field=k, value=v) for k, v in sorted(f.equals.items())],
        own_only=f.own_only,
    )


def access_fields(datasheet: str, access: Access) -> dict[str, Any]:
    """The fields of a ``schema.grants.SheetAccess`` (or a type extending it) for *access*."""
    lists = {name: sorted(getattr(access, name)) for name in FIELD_LISTS}
    return {"datasheet": datasheet, **lists, **{flag: getattr(access, flag) for flag in FLAGS}}


def _grants(definition: RoleDefinition) -> list[SheetGrantType]:
    return [
        SheetGrantType(
            **access_fields(name, g),
            row_filter=None if g.row_filter is None else row_filter_type(g.row_filter),
        )
        for name, g in sorted(definition.sheets.items())
    ]


def _role(role: Role) -> RoleType:
    d = role.definition
    return RoleType(
        name=d.name,
        description=d.description,
        version=role.version,
        updated_at=role.updated_at,
        sheets=_grants(d),
    )


def _definition(data: RoleInput) -> RoleDefinition:
    sheets: dict[str, SheetGrant] = {}
    for g in data.sheets:
        if g.datasheet in sheets:
            raise BadUserInputError(f"datasheet {g.datasheet!r} appears twice", field="sheets")
        row = None
        if g.row_filter is not None:
            equals = {e.field: e.value for e in g.row_filter.equals}
            row = RowFilter(equals=equals, own_only=g.row_filter.own_only)
        lists: dict[str, Any] = {name: frozenset(getattr(g, name)) for name in FIELD_LISTS}
        flags: dict[str, Any] = {flag: getattr(g, flag) for flag in FLAGS}
        sheets[g.datasheet] = SheetGrant(**lists, **flags, row_filter=row)
    return validate_role(RoleDefinition(data.name.strip(), data.description.strip(), sheets))


async def _put_role(info: Info, data: RoleInput, expected_version: int | None) -> RoleType:
    ctx = admin(info)
    role = await ctx.store.roles.put(_definition(data), expected_version, ctx.actor)
    await ctx.policies.changed(ctx.principal.tenant_id)
    return _role(role)


@strawberry.type
class RoleQuery:
    @strawberry.field(description="Every role of the tenant (admin only).")
    async def roles(self, info: Info) -> list[RoleType]:
        return [_role(r) for r in await admin(info).store.roles.all()]

    @strawberry.field(description="Every committed version of a role, oldest first.")
    async def role_versions(self, info: Info, name: str) -> list[RoleVersionType]:
        versions = await admin(info).store.roles.versions(name)
        return [
            RoleVersionType(
                version=v.version,
                at=v.at,
                by=v.by,
                deleted=v.definition is None,
                sheets=_grants(v.definition) if v.definition else [],
            )
            for v in versions
        ]

    @strawberry.field(description="Fields gained and lost per datasheet between two versions.")
    async def role_diff(
        self, info: Info, name: str, from_version: int, to_version: int
    ) -> RoleDiffType:
        versions = {v.version: v for v in await admin(info).store.roles.versions(name)}
        for argument, number in (("fromVersion", from_version), ("toVersion", to_version)):
            if number not in versions:
                raise NotFoundError(f"role {name!r} has no version {number}", argument=argument)
        return RoleDiffType(
            name=name,
            from_version=from_version,
            to_version=to_version,
            sheets=role_diff(versions[from_version].definition, versions[to_version].definition),
        )


@strawberry.type
class RoleMutation:
    @strawberry.mutation(description="Create a role.")
    async def create_role(self, info: Info, input: RoleInput) -> RoleType:
        return await _put_role(info, input, None)

    @strawberry.mutation(description="Replace a role's definition if it is at `expectedVersion`.")
    async def update_role(self, info: Info, expected_version: int, input: RoleInput) -> RoleType:
        return await _put_role(info, input, expected_version)

    @strawberry.mutation(description="Delete a role no user holds.")
    async def delete_role(self, info: Info, name: str, expected_version: int) -> RoleType:
        ctx = admin(info)
        if name == ADMIN:
            raise BadUserInputError("the admin role is built in", field="name")
        role = await ctx.store.roles.delete(name, expected_version, ctx.actor)
        await ctx.policies.changed(ctx.principal.tenant_id)
        return _role(role)
