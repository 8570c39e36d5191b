"""What one request may read or change, and on which rows, field by field.

A user's roles are combined per field, never blended across rows: a field may be read on
the rows of the roles that grant it, so a record comes back with a set of fields only if
every one of them is granted on that record by some role; a field is shown in full only
where a role covering the record reads it in full (otherwise masked). Writes likewise: each
field written, and the create, archive or delete permission, must be granted on the
record's rows. So adding a narrow role (salary on Sales rows) to a broad one (names on all
rows) shows salary on Sales rows only, however the query is shaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from resolvers.authz.masking import mask
from resolvers.authz.policy import SheetPolicy
from schema.datasheets import Datasheet
from schema.errors import ForbiddenError
from schema.roles import RowFilter, row_matches
from storage.values import Record, RowScope

__all__ = ["ReadPlan", "fetch_fields", "read_plan", "rows_of", "write_scope"]

Rows = tuple[RowFilter, ...] | None  # None: every row


def rows_of(grants: Iterable[SheetPolicy]) -> Rows:
    """The rows on which any of *grants* applies."""
    grants = list(grants)
    if any(g.rows is None for g in grants):
        return None
    return tuple(f for g in grants for f in g.rows or ())


def _scope(conditions: Iterable[Rows], caller: str) -> RowScope:
    """Rows satisfying every one of *conditions* (each: any of its filters)."""
    required: list[tuple[RowFilter, ...]] = []
    for condition in conditions:
        if condition is not None and condition not in required:
            required.append(condition)
    if not required:
        return RowScope(rows=None, caller=caller)
    return RowScope(rows=required[0], caller=caller, also=tuple(required[1:]))


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """The fields a request reads, the rows it may read them on, and how to tell per record
    which are to be masked."""

    fields: frozenset[str]
    scope: RowScope
    grants: tuple[SheetPolicy, ...]
    caller: str

    @property
    def row_fields(self) -> frozenset[str]:
        """Fields needed to tell which roles cover a record (plaintext filter fields)."""
        return frozenset(k for g in self.grants for f in g.rows or () for k in f.equals)

    def masked(self, values: Mapping[str, object], owner: str | None) -> frozenset[str]:
        """The fields to show masked on a record with *values* and *owner*."""
        full: set[str] = set()
        for g in self.grants:
            if g.read & self.fields and row_matches(g.rows, values, owner, self.caller):
                full |= g.read
        return self.fields - full

    def shown(
        self, sheet: Datasheet, record: Record, also_hidden: frozenset[str] = frozenset()
    ) -> tuple[dict[str, object], frozenset[str]]:
        """A record's values as the caller may see them, in declaration order: only the
        planned fields, masked where no role covering this record reads them in full (and
        *also_hidden*); and which were masked. The one rule for the API and for exports."""
        fields = [f.name for f in sheet.fields if f.name in self.fields and f.name in record.values]
        hidden = (self.masked(record.values, record.owner) | also_hidden) & frozenset(fields)
        if not hidden:
            return {name: record.values[name] for name in fields}, hidden
        values: dict[str, object] = {}
        for name in fields:
            value = record.values[name]
            values[name] = mask(sheet.by_name[name], value) if name in hidden else value
        return values, hidden


def fetch_fields(plan: ReadPlan, sheet: Datasheet) -> list[str]:
    """What to fetch (and decrypt): the planned fields and those that tell which role covers
    a record; nothing else ever leaves the database."""
    return [f.name for f in sheet.fields if f.name in plan.fields | plan.row_fields]


def _forbid(sheet: Datasheet, what: str, name: str) -> ForbiddenError:
    field = f"{sheet.type_name}.{name}"
    return ForbiddenError(f"you may not {what} {field}", field=field)


def read_plan(
    sheet: Datasheet,
    policy: SheetPolicy,
    fields: Iterable[str],
    caller: str,
    *,
    full: Iterable[str] = (),
) -> ReadPlan:
    """How to read *fields* (and *full*, which must be readable unmasked: filters)."""
    wanted, unmasked = frozenset(fields), frozenset(full)
    for name in sorted(unmasked - policy.read):
        raise _forbid(sheet, "filter by", name)
    for name in sorted(wanted - policy.visible):
        raise _forbid(sheet, "read", name)
    conditions: list[Rows] = [rows_of(policy.grants)]  # the sheet itself, for bare ids
    conditions += [rows_of(g for g in policy.grants if name in g.visible) for name in wanted]
    conditions += [rows_of(g for g in policy.grants if name in g.read) for name in unmasked]
    return ReadPlan(wanted | unmasked, _scope(conditions, caller), policy.grants, caller)


def write_scope(
    sheet: Datasheet,
    policy: SheetPolicy,
    fields: Iterable[str],
    caller: str,
    *,
    needs: str | None = None,
    reading: ReadPlan | None = None,
) -> RowScope:
    """The rows on which the caller may write every one of *fields* (and has the permission
    *needs*: "create", "archive" or "delete"), and read what the answer selects."""
    written = frozenset(fields)
    for name in sorted(written - policy.write):
        raise _forbid(sheet, "write", name)
    if needs is not None and not getattr(policy, needs):
        raise ForbiddenError(
            f"you may not {needs} {sheet.type_name} records", field=sheet.type_name
        )
    conditions: list[Rows] = [
        rows_of(g for g in policy.grants if name in g.write) for name in written
    ]
    if needs is not None:
        conditions.append(rows_of(g for g in policy.grants if getattr(g, needs)))
    if reading is not None:
        conditions += [reading.scope.rows, *reading.scope.also]
    else:
        conditions.append(rows_of(policy.grants))
    return _scope(conditions, caller)
