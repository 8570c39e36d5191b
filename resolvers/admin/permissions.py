"""What a compiled policy lets a user do, as ``effectivePermissions`` shows it: per
datasheet, and per field on which rows (roles combine field by field)."""

from __future__ import annotations

from resolvers.admin.roles import access_fields, row_filter_type
from resolvers.authz.policy import SheetPolicy
from resolvers.authz.scopes import rows_of
from schema.accounts import FieldRows, SheetPermission
from schema.roles import FIELD_LISTS

__all__ = ["sheet_permission"]


def _field_rows(p: SheetPolicy) -> list[FieldRows]:
    out = []
    for access in FIELD_LISTS:
        for name in sorted(getattr(p, access)):
            rows = rows_of(g for g in p.grants if name in getattr(g, access))
            out.append(
                FieldRows(
                    field=name,
                    access=access,
                    all_rows=rows is None,
                    row_filters=[row_filter_type(f) for f in rows or ()],
                )
            )
    return out


def sheet_permission(name: str, p: SheetPolicy) -> SheetPermission:
    return SheetPermission(
        **access_fields(name, p),
        all_rows=p.rows is None,
        row_filters=[row_filter_type(f) for f in p.rows or ()],
        fields=_field_rows(p),
    )
