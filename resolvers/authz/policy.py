"""A caller's compiled policy, and what it lets them see of the GraphQL schema.

``compile_policy`` folds a user's roles into one ``Policy`` (the union of their grants).
``Policy.allows(type_name, field_name)`` answers for any field of the schema, and is the
single rule used by document authorisation, introspection and masking alike, so the
three can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from schema.datasheets import DATASHEETS, Datasheet
from schema.roles import ADMIN, FLAGS, Access, RoleDefinition, RowFilter, SheetGrant

__all__ = [
    "ADMIN_FIELDS",
    "META_FIELDS",
    "REPORT_FIELDS",
    "Policy",
    "SheetPolicy",
    "compile_policy",
]

#: Fields every datasheet object type has besides its declared fields.
META_FIELDS = frozenset({"id", "version", "archived", "createdAt", "updatedAt", "__typename"})
#: Root fields only admins may use (role and user management; see resolvers.admin).
ADMIN_FIELDS = frozenset(
    {
        "auditVerify",
        # Breach incidents (resolvers.breach.incidents).
        "incidents",
        "incident",
        "tenantContact",
        "openIncident",
        "changeIncidentState",
        "containIncident",
        "fileIncidentReport",
        "setTenantContact",
        "setUserPassword",
        "requireTwoFactor",
        "apiKeys",
        "createApiKey",
        "revokeApiKey",
        "recordAccess",
        "principalAccess",
        "loginHistory",
        "roles",
        "roleVersions",
        "roleDiff",
        "users",
        "effectivePermissions",
        "userSessions",
        "createRole",
        "updateRole",
        "deleteRole",
        "createUser",
        "updateUser",
        "requestTermination",
        "eraseDataSubject",
        "subjectAccess",
        "breachImpact",
        "breachNotificationText",
        "startBreachNotificationExport",
        "registerOperation",
        "setOperationAllowList",
    }
)


#: The root field that starts an export: only for callers who may export something.
EXPORT_FIELD = "startExport"
#: Root fields of reports: only for callers whose roles may report on some datasheet.
REPORT_FIELDS = frozenset(
    {
        "report",
        "reportCsv",
        "reportDefinitions",
        "runReportDefinition",
        "createReportDefinition",
        "updateReportDefinition",
        "deleteReportDefinition",
    }
)
#: Admin-only root fields of reports (the tenant's k), kept here so ADMIN_FIELDS stays as is.
REPORT_ADMIN_FIELDS = frozenset({"setReportMinimumGroupSize"})


@dataclass(frozen=True, slots=True)
class SheetPolicy(Access):
    """What a caller may do with one datasheet: the union of their roles' grants."""

    #: None: every row. Otherwise a row is visible if any of these filters matches it.
    rows: tuple[RowFilter, ...] | None = None
    #: Each role's own grant. The fields above are their union, which decides what a
    #: document may name at all; on which rows each field may be read or changed is
    #: decided from the grants (resolvers.authz.scopes), so a field granted on some rows is
    #: never shown on others.
    grants: tuple[SheetPolicy, ...] = ()

    @property
    def visible(self) -> frozenset[str]:
        return self.read | self.mask


def _full(sheet: Datasheet) -> SheetPolicy:
    everything = frozenset(sheet.by_name)
    every_flag: dict[str, Any] = dict.fromkeys(FLAGS, True)
    one = replace(SheetPolicy(read=everything, write=everything), **every_flag)
    return replace(one, grants=(one,))


_FULL = {name: _full(sheet) for name, sheet in DATASHEETS.items()}


@dataclass(frozen=True, slots=True)
class Policy:
    """What one caller may do, compiled from their roles at one policy version."""

    roles: tuple[str, ...]
    version: int
    admin: bool
    can_export: bool
    sheets: Mapping[str, SheetPolicy] = field(default_factory=dict)
    #: If set, the only root fields this caller may use (a sign-in that must enrol a second
    #: factor first).
    restricted: frozenset[str] | None = None

    @property
    def key(self) -> tuple[tuple[str, ...], int, bool, frozenset[str] | None]:
        """What a cached authorisation depends on: the role set and the policy version."""
        return (self.roles, self.version, self.can_export, self.restricted)

    def sheet(self, name: str) -> SheetPolicy | None:
        return self.sheets.get(name)

    def allows(self, type_name: str, field_name: str) -> bool:
        """May this caller see *field_name* of GraphQL type *type_name*?"""
        kind = _type_kinds().get(type_name)
        if kind is None:
            return True  # connection, edge, page info, introspection types…
        role, sheet = kind
        if role == "root":
            if self.restricted is not None:
                return field_name in self.restricted
            return self._allows_root(type_name, field_name)
        grant = self.sheets.get(sheet)
        if grant is None:
            return False
        if role == "object":
            return field_name in META_FIELDS or field_name in grant.visible
        if role == "filter":
            return field_name in grant.read
        return field_name in grant.write  # create and update inputs

    def _allows_root(self, type_name: str, field_name: str) -> bool:
        if field_name in ADMIN_FIELDS or field_name in REPORT_ADMIN_FIELDS:
            return self.admin
        if field_name in REPORT_FIELDS:
            return any(sheet.report for sheet in self.sheets.values())
        if field_name == EXPORT_FIELD:
            # Per user (or key), and per role and datasheet (resolvers.exportstream).
            return self.can_export and any(
                g.export for sheet in self.sheets.values() for g in sheet.grants
            )
        target = _root_fields().get((type_name, field_name))
        if target is None:
            return True  # e.g. `me`
        sheet, needs = target
        grant = self.sheets.get(sheet)
        if grant is None:
            return False
        return {
            "read": True,
            "create": grant.create,
            "update": bool(grant.write),
            "archive": grant.archive,
            "delete": grant.delete,
        }[needs]


def _own(grant: SheetGrant) -> SheetPolicy:
    """One role's grant as a policy of its own."""
    rows = None if grant.row_filter is None else (grant.row_filter,)
    own = SheetPolicy(read=grant.read, mask=grant.mask - grant.read, write=grant.write, rows=rows)
    flags: dict[str, Any] = {flag: getattr(grant, flag) for flag in FLAGS}
    return replace(own, **flags)


def _union(grants: Iterable[SheetGrant]) -> SheetPolicy | None:
    own = [_own(g) for g in grants]
    if not own:
        return None
    read = frozenset().union(*(g.read for g in own))
    rows = None if any(g.rows is None for g in own) else tuple(f for g in own for f in g.rows or ())
    union = SheetPolicy(
        read=read,
        mask=frozenset().union(*(g.mask for g in own)) - read,
        write=frozenset().union(*(g.write for g in own)),
        rows=rows,
        grants=tuple(own),
    )
    flags: dict[str, Any] = {flag: any(getattr(g, flag) for g in own) for flag in FLAGS}
    return replace(union, **flags)


def compile_policy(
    role_names: Iterable[str],
    roles: Mapping[str, RoleDefinition],
    *,
    version: int,
    can_export: bool,
) -> Policy:
    """The union of the grants of *role_names*; unknown role names grant nothing."""
    names = tuple(sorted(set(role_names)))
    if ADMIN in names:
        return Policy(names, version, admin=True, can_export=can_export, sheets=_FULL)
    sheets = {}
    for sheet in DATASHEETS:
        merged = _union(
            roles[n].sheets[sheet] for n in names if n in roles and sheet in roles[n].sheets
        )
        if merged is not None:
            sheets[sheet] = merged
    return Policy(names, version, admin=False, can_export=can_export, sheets=sheets)


@cache
def _type_kinds() -> Mapping[str, tuple[str, str]]:
    kinds: dict[str, tuple[str, str]] = {"Query": ("root", ""), "Mutation": ("root", "")}
    for sheet in DATASHEETS.values():
        t = sheet.type_name
        kinds[t] = ("object", sheet.name)
        kinds[f"{t}Filter"] = ("filter", sheet.name)
        kinds[f"{t}CreateInput"] = ("input", sheet.name)
        kinds[f"{t}UpdateInput"] = ("input", sheet.name)
    return kinds


def _sheet_roots(sheet: Datasheet) -> dict[tuple[str, str], tuple[str, str]]:
    t = sheet.type_name
    return {
        ("Query", sheet.singular): (sheet.name, "read"),
        ("Query", sheet.name): (sheet.name, "read"),
        ("Mutation", f"create{t}"): (sheet.name, "create"),
        ("Mutation", f"update{t}"): (sheet.name, "update"),
        ("Mutation", f"archive{t}"): (sheet.name, "archive"),
        ("Mutation", f"restore{t}"): (sheet.name, "archive"),
        ("Mutation", f"delete{t}"): (sheet.name, "delete"),
    }


@cache
def _root_fields() -> Mapping[tuple[str, str], tuple[str, str]]:
    roots: dict[tuple[str, str], tuple[str, str]] = {}
    for sheet in DATASHEETS.values():
        roots.update(_sheet_roots(sheet))
    return roots


def root_field_sheet(type_name: str, field_name: str) -> str | None:
    """The datasheet a root field reads or changes (``Mutation.createEmployee``: employees)."""
    target = _root_fields().get((type_name, field_name))
    return None if target is None else target[0]


def type_sheet(type_name: str) -> Datasheet | None:
    """The datasheet whose object type is *type_name*."""
    kind = _type_kinds().get(type_name)
    return DATASHEETS[kind[1]] if kind and kind[0] == "object" else None
