"""GraphQL types of roles: their grants per datasheet, row filters, versions and diffs.

``SheetAccess`` is the one GraphQL declaration of a grant's shape (the fields it reads,
reads masked and writes; may it create, archive, delete, export, report): a role's grant
(``SheetGrantType``), its input (``SheetGrantInput``) and a user's effective permission
(``schema.accounts.SheetPermission``) extend it. The plain data they mirror is
``schema.roles.Access``.

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import datetime as dt

import strawberry

__all__ = [
    "FieldEquals",
    "FieldEqualsInput",
    "RoleDiffType",
    "RoleInput",
    "RoleType",
    "RoleVersionType",
    "RowFilterInput",
    "RowFilterType",
    "SheetAccess",
    "SheetDiff",
    "SheetGrantInput",
    "SheetGrantType",
]


@strawberry.type
class FieldEquals:
    field: str
    value: str


@strawberry.type
class RowFilterType:
    equals: list[FieldEquals]
    own_only: bool


@strawberry.type
class SheetAccess:
    """What a grant allows on one datasheet (the defaults are those of an input)."""

    datasheet: str
    read: list[str] = strawberry.field(default_factory=list)
    mask: list[str] = strawberry.field(default_factory=list)
    write: list[str] = strawberry.field(default_factory=list)
    create: bool = False
    archive: bool = False
    delete: bool = False
    export: bool = False
    report: bool = False


@strawberry.type
class SheetGrantType(SheetAccess):
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


@strawberry.input
class FieldEqualsInput:
    field: str
    value: str


@strawberry.input
class RowFilterInput:
    equals: list[FieldEqualsInput] = strawberry.field(default_factory=list)
    own_only: bool = False


@strawberry.input
class SheetGrantInput(SheetAccess):
    row_filter: RowFilterInput | None = None


@strawberry.input
class RoleInput:
    name: str
    description: str = ""
    sheets: list[SheetGrantInput] = strawberry.field(default_factory=list)
