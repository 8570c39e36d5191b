"""Role and user management over GraphQL: admins only.

Every change goes through the audited write path and is announced to every gateway
process (``RequestContext.policies``), so it is in force everywhere within a second.
Validation is strict: an unknown datasheet, field or role is ``BAD_USER_INPUT`` naming it.

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import datetime as dt

import strawberry
from strawberry.types import Info

from resolvers.authz.guards import admin_context
from resolvers.authz.policy import Policy, SheetPolicy, compile_policy
from resolvers.context import RequestContext
from resolvers.selection import selected_fields
from resolvers.values import check_value
from schema.datasheets import Field, FieldType, Sensitivity
from schema.errors import BadUserInputError, NotFoundError
from schema.roles import ADMIN, RoleDefinition, RowFilter, SheetGrant, validate_role
from storage.base import ApiKey, Role, User

__all__ = ["AdminMutation", "AdminQuery", "MeQuery"]

_EMAIL = Field("email", FieldType.EMAIL, Sensitivity.DETERMINISTIC, required=True, max_length=254)


@strawberry.type
class FieldEquals:
    field: str
    value: str


@strawberry.type
class RowFilterType:
    equals: list[FieldEquals]
    own_only: bool


@strawberry.type
class SheetGrantType:
    datasheet: str
    read: list[str]
    mask: list[str]
    write: list[str]
    create: bool
    archive: bool
    delete: bool
    export: bool
    report: bool
    row_filter: RowFilterType | None


@strawberry.type(name="Role")
class RoleType:
    name: str
    description: str
    version: int
    updated_at: dt.datetime | None
    sheets: list[SheetGrantType]


@strawberry.type
class RoleVersionType:
    version: int
    at: dt.datetime
    by: str
    deleted: bool
    sheets: list[SheetGrantType]


@strawberry.type
class SheetDiff:
    datasheet: str
    gained_read: list[str]
    lost_read: list[str]
    gained_mask: list[str]
    lost_mask: list[str]
    gained_write: list[str]
    lost_write: list[str]
    changed: list[str] = strawberry.field(
        description="Flags or row filter that differ: create, archive, delete, export, report, "
        "rowFilter."
    )


@strawberry.type
class RoleDiffType:
    name: str
    from_version: int
    to_version: int
    sheets: list[SheetDiff]


@strawberry.type(name="User")
class UserType:
    id: strawberry.ID
    email: str
    roles: list[str]
    can_export: bool
    version: int


@strawberry.type
class SheetPermission:
    datasheet: str
    read: list[str]
    mask: list[str]
    write: list[str]
    create: bool
    archive: bool
    delete: bool
    export: bool
    report: bool
    all_rows: bool
    row_filters: list[RowFilterType]
    fields: list["FieldRows"] = strawberry.field(
        description="Per field: how it may be seen, and on which rows (roles combine field "
        "by field)."
    )


@strawberry.type
class FieldRows:
    field: str
    access: str = strawberry.field(description='"read", "mask" or "write".')
    all_rows: bool
    row_filters: list[RowFilterType]


@strawberry.type
class EffectivePermissions:
    user_id: strawberry.ID
    roles: list[str]
    admin: bool
    can_export: bool
    policy_version: int
    sheets: list[SheetPermission]


@strawberry.input
class FieldEqualsInput:
    field: str
    value: str


@strawberry.input
class RowFilterInput:
    equals: list[FieldEqualsInput] = strawberry.field(default_factory=list)
    own_only: bool = False


@strawberry.input
class SheetGrantInput:
    datasheet: str
    read: list[str] = strawberry.field(default_factory=list)
    mask: list[str] = strawberry.field(default_factory=list)
    write: list[str] = strawberry.field(default_factory=list)
    create: bool = False
    archive: bool = False
    delete: bool = False
    export: bool = False
    report: bool = False
    row_filter: RowFilterInput | None = None


@strawberry.input
class RoleInput:
    name: str
    description: str = ""
    sheets: list[SheetGrantInput] = strawberry.field(default_factory=list)


def _ctx(info: Info) -> RequestContext:
    return admin_context(info, "manage roles and users")


def _row(f: RowFilter) -> RowFilterType:
    return RowFilterType(
        equals=[FieldEquals(field=k, value=v) for k, v in sorted(f.equals.items())],
        own_only=f.own_only,
    )


def _grants(definition: RoleDefinition) -> list[SheetGrantType]:
    return [
        SheetGrantType(
            datasheet=name,
            read=sorted(g.read),
            mask=sorted(g.mask),
            write=sorted(g.write),
            create=g.create,
            archive=g.archive,
            delete=g.delete,
            export=g.export,
            report=g.report,
            row_filter=None if g.row_filter is None else _row(g.row_filter),
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


def _user(user: User) -> UserType:
    return UserType(
        id=strawberry.ID(user.id),
        email=user.email,
        roles=list(user.roles),
        can_export=user.can_export,
        version=user.version,
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
        sheets[g.datasheet] = SheetGrant(
            read=frozenset(g.read),
            mask=frozenset(g.mask),
            write=frozenset(g.write),
            create=g.create,
            archive=g.archive,
            delete=g.delete,
            export=g.export,
            report=g.report,
            row_filter=row,
        )
    return validate_role(RoleDefinition(data.name.strip(), data.description.strip(), sheets))


def _permission(name: str, p: SheetPolicy) -> SheetPermission:
    return SheetPermission(
        datasheet=name,
        read=sorted(p.read),
        mask=sorted(p.mask),
        write=sorted(p.write),
        create=p.create,
        archive=p.archive,
        delete=p.delete,
        export=p.export,
        report=p.report,
        all_rows=p.rows is None,
        row_filters=[_row(f) for f in p.rows or ()],
        fields=_field_rows(p),
    )


def _field_rows(p: SheetPolicy) -> list["FieldRows"]:
    out = []
    for access in ("read", "mask", "write"):
        for name in sorted(getattr(p, access)):
            grants = [g for g in p.grants if name in getattr(g, access)]
            rows = (
                None
                if any(g.rows is None for g in grants)
                else [f for g in grants for f in g.rows or ()]
            )
            out.append(
                FieldRows(
                    field=name,
                    access=access,
                    all_rows=rows is None,
                    row_filters=[_row(f) for f in rows or ()],
                )
            )
    return out


def _diff(a: RoleDefinition | None, b: RoleDefinition | None) -> list[SheetDiff]:
    empty = SheetGrant()
    sheets_a = a.sheets if a else {}
    sheets_b = b.sheets if b else {}
    out = []
    for name in sorted(set(sheets_a) | set(sheets_b)):
        x, y = sheets_a.get(name, empty), sheets_b.get(name, empty)
        changed = [
            flag
            for flag in ("create", "archive", "delete", "export", "report")
            if getattr(x, flag) != getattr(y, flag)
        ] + (["rowFilter"] if x.row_filter != y.row_filter else [])
        diff = SheetDiff(
            datasheet=name,
            gained_read=sorted(y.read - x.read),
            lost_read=sorted(x.read - y.read),
            gained_mask=sorted(y.mask - x.mask),
            lost_mask=sorted(x.mask - y.mask),
            gained_write=sorted(y.write - x.write),
            lost_write=sorted(x.write - y.write),
            changed=changed,
        )
        if any(
            (
                diff.gained_read,
                diff.lost_read,
                diff.gained_mask,
                diff.lost_mask,
                diff.gained_write,
                diff.lost_write,
                changed,
            )
        ):
            out.append(diff)
    return out


async def _policy_of(ctx: RequestContext, user: User) -> Policy:
    roles = {r.definition.name: r.definition for r in await ctx.store.list_roles()}
    version = await ctx.store.policy_version()
    return compile_policy(user.roles, roles, version=version, can_export=user.can_export)


@strawberry.type(name="ApiKey")
class ApiKeyType:
    id: strawberry.ID
    name: str
    role: str
    can_export: bool
    created_at: dt.datetime
    revoked: bool
    last_used_at: dt.datetime | None


@strawberry.type
class ApiKeyCreated:
    api_key: ApiKeyType
    key: str = strawberry.field(description="The key itself: shown this once, never stored.")


def _api_key(k: ApiKey) -> ApiKeyType:
    return ApiKeyType(
        id=strawberry.ID(k.id),
        name=k.name,
        role=k.role,
        can_export=k.can_export,
        created_at=k.created_at,
        revoked=k.revoked,
        last_used_at=k.last_used_at,
    )


@strawberry.type
class AdminQuery:
    @strawberry.field(description="Every role of the tenant (admin only).")
    async def roles(self, info: Info) -> list[RoleType]:
        return [_role(r) for r in await _ctx(info).store.list_roles()]

    @strawberry.field(description="Every committed version of a role, oldest first.")
    async def role_versions(self, info: Info, name: str) -> list[RoleVersionType]:
        versions = await _ctx(info).store.role_versions(name)
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
        versions = {v.version: v for v in await _ctx(info).store.role_versions(name)}
        for argument, number in (("fromVersion", from_version), ("toVersion", to_version)):
            if number not in versions:
                raise NotFoundError(f"role {name!r} has no version {number}", argument=argument)
        return RoleDiffType(
            name=name,
            from_version=from_version,
            to_version=to_version,
            sheets=_diff(versions[from_version].definition, versions[to_version].definition),
        )

    @strawberry.field(description="Every API key of the tenant, with its last use.")
    async def api_keys(self, info: Info) -> list[ApiKeyType]:
        return [_api_key(k) for k in await _ctx(info).store.list_api_keys()]

    @strawberry.field(description="Every user of the tenant.")
    async def users(self, info: Info) -> list[UserType]:
        ctx = _ctx(info)
        users = await ctx.store.list_users()
        if users and selected_fields(info, ["email"]):  # a user's email is personal data
            ctx.access.read("users", ["email"], sorted(u.id for u in users))
        return [_user(u) for u in users]

    @strawberry.field(description="What a user can see and do right now.")
    async def effective_permissions(
        self, info: Info, user_id: strawberry.ID
    ) -> EffectivePermissions:
        ctx = _ctx(info)
        user = await ctx.store.get_user(str(user_id))
        if user is None:
            raise NotFoundError("no user with this id", argument="userId")
        policy = await _policy_of(ctx, user)
        return EffectivePermissions(
            user_id=user_id,
            roles=list(policy.roles),
            admin=policy.admin,
            can_export=policy.can_export,
            policy_version=policy.version,
            sheets=[_permission(n, p) for n, p in sorted(policy.sheets.items())],
        )


@strawberry.type
class AdminMutation:
    @strawberry.mutation(description="Create a role.")
    async def create_role(self, info: Info, input: RoleInput) -> RoleType:
        ctx = _ctx(info)
        role = await ctx.store.put_role(_definition(input), None, ctx.actor)
        await ctx.policies.changed(ctx.principal.tenant_id)
        return _role(role)

    @strawberry.mutation(description="Replace a role's definition if it is at `expectedVersion`.")
    async def update_role(self, info: Info, expected_version: int, input: RoleInput) -> RoleType:
        ctx = _ctx(info)
        role = await ctx.store.put_role(_definition(input), expected_version, ctx.actor)
        await ctx.policies.changed(ctx.principal.tenant_id)
        return _role(role)

    @strawberry.mutation(description="Delete a role no user holds.")
    async def delete_role(self, info: Info, name: str, expected_version: int) -> RoleType:
        ctx = _ctx(info)
        if name == ADMIN:
            raise BadUserInputError("the admin role is built in", field="name")
        role = await ctx.store.delete_role(name, expected_version, ctx.actor)
        await ctx.policies.changed(ctx.principal.tenant_id)
        return _role(role)

    @strawberry.mutation(description="Create an API key for an integrator, scoped to one role.")
    async def create_api_key(
        self, info: Info, name: str, role: str, can_export: bool = False
    ) -> ApiKeyCreated:
        ctx = _ctx(info)
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise BadUserInputError("a key name has 1 to 100 characters", field="name")
        key, text = await ctx.store.create_api_key(name, role, can_export, ctx.actor)
        return ApiKeyCreated(api_key=_api_key(key), key=text)

    @strawberry.mutation(description="Revoke an API key: it stops working at once everywhere.")
    async def revoke_api_key(self, info: Info, id: strawberry.ID) -> ApiKeyType:
        ctx = _ctx(info)
        return _api_key(await ctx.store.revoke_api_key(str(id), ctx.actor))

    @strawberry.mutation(description="Create a user with roles and export permission.")
    async def create_user(
        self,
        info: Info,
        email: str,
        roles: list[str],
        can_export: bool = False,
        password: str | None = None,
    ) -> UserType:
        ctx = _ctx(info)
        address = check_value(_EMAIL, email)
        assert isinstance(address, str)
        tenant_id = ctx.principal.tenant_id
        # Hashed first: a refusal (too short, or 429 from a busy hashing pool) creates nothing.
        hashed = None if password is None else await ctx.account.check_password(tenant_id, password)
        user = await ctx.store.create_user(address, roles, ctx.actor, can_export=can_export)
        if hashed is not None:
            await ctx.account.set_password_hash(tenant_id, user.id, hashed, ctx.actor)
        await ctx.policies.changed(ctx.principal.tenant_id)
        return _user(user)

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
        ctx = _ctx(info)
        user = await ctx.store.update_user(
            str(id), expected_version, ctx.actor, roles=roles, can_export=can_export
        )
        await ctx.policies.changed(ctx.principal.tenant_id)
        return _user(user)


@strawberry.type
class Me:
    id: strawberry.ID
    roles: list[str]
    can_export: bool
    policy_version: int


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
