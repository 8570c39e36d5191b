"""Role schemas as plain data: what a role may do with each datasheet.

A tenant's admins define roles; a user holds one or more. For each datasheet a role lists
the fields it may read, the fields it may read only in masked form, the fields it may
write, whether it may create, archive, delete and export records and run reports over
them (aggregates only: resolvers.reports), and an optional row filter. The built-in
``admin`` role may do everything and manage roles and users; it is not stored and cannot
be redefined.

A user with several roles gets the union of their grants, field by field: each field may
be read (or written) on the rows of the roles that grant it, so a record comes back with a
set of fields only where every one of them is granted on it (resolvers.authz.scopes). A role
without a row filter opens every row.

Row filters are equality on plaintext fields (``department == "Sales"``) and/or "only
records I own" (the user who created the record); a filter's conditions must all hold.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from schema.datasheets import DATASHEETS, FieldType, Sensitivity
from schema.errors import BadUserInputError

__all__ = [
    "ADMIN",
    "FIELD_LISTS",
    "FLAGS",
    "Access",
    "RoleDefinition",
    "RowFilter",
    "SheetGrant",
    "row_matches",
    "validate_role",
]

ADMIN = "admin"
_ROLE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_MASKABLE = (FieldType.STRING, FieldType.EMAIL)


@dataclass(frozen=True, slots=True)
class RowFilter:
    """Rows a grant covers: all *equals* conditions hold, and the caller owns the record if
    *own_only*."""

    equals: Mapping[str, str] = field(default_factory=dict)
    own_only: bool = False


#: The field lists and the flags of ``Access``, in the order clients see them.
FIELD_LISTS = ("read", "mask", "write")
FLAGS = ("create", "archive", "delete", "export", "report")


@dataclass(frozen=True, slots=True)
class Access:
    """The shape of a grant on one datasheet: the fields it reads, reads masked and writes,
    and whether it may create, archive, delete, export and report. One declaration for a
    role's grant (``SheetGrant``), a compiled policy (resolvers.authz.policy.SheetPolicy)
    and their GraphQL types (schema.grants.SheetAccess)."""

    read: frozenset[str] = frozenset()
    mask: frozenset[str] = frozenset()
    write: frozenset[str] = frozenset()
    create: bool = False
    archive: bool = False
    delete: bool = False
    export: bool = False
    #: May run reports (aggregates) over the datasheet (resolvers.reports).
    report: bool = False


@dataclass(frozen=True, slots=True)
class SheetGrant(Access):
    row_filter: RowFilter | None = None


@dataclass(frozen=True, slots=True)
class RoleDefinition:
    name: str
    description: str = ""
    sheets: Mapping[str, SheetGrant] = field(default_factory=dict)


def _unknown(kind: str, name: str, where: str) -> BadUserInputError:
    return BadUserInputError(f"unknown {kind} {name!r} in {where}", field=where)


def validate_role(role: RoleDefinition) -> RoleDefinition:
    """*role* if every name in it exists and every grant is coherent; otherwise
    ``BAD_USER_INPUT`` naming the first thing wrong."""
    if role.name == ADMIN:
        raise BadUserInputError("the admin role is built in and cannot be redefined", field="name")
    if not _ROLE_NAME.match(role.name):
        raise BadUserInputError(
            "a role name is 1 to 63 lower-case letters, digits, - or _, starting with a letter",
            field="name",
        )
    if len(role.description) > 500:
        raise BadUserInputError("a description has at most 500 characters", field="description")
    for sheet_name, grant in role.sheets.items():
        _validate_grant(sheet_name, grant)
    return role


def _validate_grant(sheet_name: str, grant: SheetGrant) -> None:
    sheet = DATASHEETS.get(sheet_name)
    if sheet is None:
        raise _unknown("datasheet", sheet_name, "sheets")
    for kind, names in (("read", grant.read), ("mask", grant.mask), ("write", grant.write)):
        for name in names:
            if name not in sheet.by_name:
                raise _unknown("field", name, f"{sheet_name}.{kind}")
    for name in grant.mask:
        if sheet.by_name[name].type not in _MASKABLE:
            raise BadUserInputError(
                f"{sheet_name}.{name} cannot be masked: only text fields can",
                field=f"{sheet_name}.mask",
            )
    if both := grant.read & grant.mask:
        raise BadUserInputError(
            f"{sheet_name}: {sorted(both)[0]} is both readable and masked",
            field=f"{sheet_name}.mask",
        )
    if grant.create:
        missing = [f.name for f in sheet.fields if f.required and f.name not in grant.write]
        if missing:
            raise BadUserInputError(
                f"{sheet_name}: creating needs write access to required field {missing[0]}",
                field=f"{sheet_name}.write",
            )
    if grant.row_filter is not None:
        for name in grant.row_filter.equals:
            declared = sheet.by_name.get(name)
            if declared is None:
                raise _unknown("field", name, f"{sheet_name}.rowFilter")
            if declared.sensitivity is not Sensitivity.PLAINTEXT:
                raise BadUserInputError(
                    f"{sheet_name}.rowFilter: {name} is encrypted; row filters use plaintext "
                    "fields",
                    field=f"{sheet_name}.rowFilter",
                )


def row_matches(
    rows: tuple[RowFilter, ...] | None,
    values: Mapping[str, object],
    owner: str | None,
    caller: str,
) -> bool:
    """Does a record with *values* (plain) and *owner* fall within *rows* for *caller*?"""
    if rows is None:
        return True
    return any(
        all(_plain(values.get(k)) == v for k, v in f.equals.items())
        and (not f.own_only or owner == caller)
        for f in rows
    )


def _plain(value: object) -> object:
    """A value as row filters state it: dates as ISO strings, as they are stored."""
    iso = getattr(value, "isoformat", None)
    return iso() if callable(iso) else value
