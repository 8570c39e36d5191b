"""GraphQL types of who may sign in: users, API keys, the caller, and what they may do.

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import datetime as dt

import strawberry

from schema.grants import RowFilterType, SheetAccess

__all__ = [
    "ApiKeyCreated",
    "ApiKeyType",
    "EffectivePermissions",
    "FieldRows",
    "Me",
    "SheetPermission",
    "TotpEnrollment",
    "UserSession",
    "UserType",
]


@strawberry.type(name="User")
class UserType:
    id: strawberry.ID
    email: str
    roles: list[str]
    can_export: bool
    version: int
    two_factor_enabled: bool = strawberry.field(
        description="Whether the user signs in with a second factor (TOTP) set up."
    )


@strawberry.type
class UserSession:
    """An open sign-in session of a user: when it began and until when it may be renewed."""

    id: strawberry.ID
    opened_at: dt.datetime
    expires_at: dt.datetime
    two_factor: bool = strawberry.field(description="Opened with a second factor.")


@strawberry.type
class Me:
    id: strawberry.ID
    roles: list[str]
    can_export: bool
    policy_version: int


@strawberry.type
class TotpEnrollment:
    secret: str = strawberry.field(description="Base32; enter it in an authenticator app.")
    uri: str = strawberry.field(description="otpauth:// URI, for a QR code.")


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


@strawberry.type
class FieldRows:
    field: str
    access: str = strawberry.field(description='"read", "mask" or "write".')
    all_rows: bool
    row_filters: list[RowFilterType]


@strawberry.type
class SheetPermission(SheetAccess):
    all_rows: bool
    row_filters: list[RowFilterType]
    fields: list[FieldRows] = strawberry.field(
        description="Per field: how it may be seen, and on which rows (roles combine field "
        "by field)."
    )


@strawberry.type
class EffectivePermissions:
    user_id: strawberry.ID
    roles: list[str]
    admin: bool
    can_export: bool
    policy_version: int
    sheets: list[SheetPermission]


@strawberry.type
class Session:
    access_token: str
    refresh_token: str
    expires_in: int = strawberry.field(description="Seconds the access token is valid.")
    scope: str | None = strawberry.field(
        description='"enroll" if the tenant requires a second factor you have not set up: '
        "the token can then only enrol one."
    )
