"""What one request may read or change, and on which rows, decided per role.

A user's roles are never blended field by field: a record is read with a set of fields
only under a role that grants all of them, on the rows that role covers; a field is shown
in full on a record only if a role that covers that record reads it in full (otherwise
masked). Writes likewise need one role that may write every field given, and only on
that role's rows. So adding a narrow role (salary, Sales rows) to a broad one (names, all
rows) never shows salary on other rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from resolvers.policy import SheetPolicy
from schema.datasheets import Datasheet
from schema.errors import ForbiddenError
from schema.roles import RowFilter, row_matches
from storage.base import RowScope

__all__ = ["ReadPlan", "read_plan", "write_scope"]


def _rows(grants: Iterable[SheetPolicy]) -> tuple[RowFilter, ...] | None:
    grants = list(grants)
    if any(g.rows is None for g in grants):
        return None
    return tuple(f for g in grants for f in g.rows or ())


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """The grants under which a request reads *fields*, and the rows that gives."""

    fields: frozenset[str]
    grants: tuple[SheetPolicy, ...]
    caller: str

    @property
    def scope(self) -> RowScope:
        return RowScope(rows=_rows(self.grants), caller=self.caller)

    @property
    def row_fields(self) -> frozenset[str]:
        """Fields needed to tell which grant covers a record (plaintext filter fields)."""
        return frozenset(k for g in self.grants for f in g.rows or () for k in f.equals)

    def masked(self, values: Mapping[str, object], owner: str | None) -> frozenset[str]:
        """The fields to show masked on a record with *values* and *owner*."""
        full: set[str] = set()
        for g in self.grants:
            if row_matches(g.rows, values, owner, self.caller):
                full |= g.read
        return self.fields - full


def read_plan(
    sheet: Datasheet,
    policy: SheetPolicy,
    fields: Iterable[str],
    caller: str,
    *,
    full: Iterable[str] = (),
) -> ReadPlan:
    """How to read *fields* (and *full*, which must be readable unmasked, e.g. filters)."""
    wanted, unmasked = frozenset(fields), frozenset(full)
    for name in sorted(unmasked - policy.read):
        field = f"{sheet.type_name}.{name}"
        raise ForbiddenError(f"you may not filter by {field}", field=field)
    grants = tuple(g for g in policy.grants if wanted <= g.visible and unmasked <= g.read)
    if not grants:
        names = ", ".join(f"{sheet.type_name}.{f}" for f in sorted(wanted | unmasked))
        raise ForbiddenError(
            f"none of your roles lets you read these together: {names}", field=sheet.type_name
        )
    return ReadPlan(wanted | unmasked, grants, caller)


def write_scope(
    sheet: Datasheet,
    policy: SheetPolicy,
    fields: Iterable[str],
    caller: str,
    *,
    needs: str | None = None,
    reading: ReadPlan | None = None,
) -> RowScope:
    """The rows on which one role may write all *fields* (and has the flag *needs*:
    "create", "archive" or "delete"); the answer's fields must be readable there too."""
    written = frozenset(fields)
    for name in sorted(written - policy.write):
        field = f"{sheet.type_name}.{name}"
        raise ForbiddenError(f"you may not write {field}", field=field)
    grants = [
        g for g in policy.grants if written <= g.write and (needs is None or getattr(g, needs))
    ]
    if not grants:
        what = ", ".join(f"{sheet.type_name}.{f}" for f in sorted(written)) or sheet.type_name
        raise ForbiddenError(
            f"none of your roles lets you {needs or 'write'} {what}", field=sheet.type_name
        )
    also = reading.scope.rows if reading is not None else None
    return RowScope(rows=_rows(grants), caller=caller, also=also)
