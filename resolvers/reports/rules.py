"""The rules that keep a report from singling out a person, as pure functions.

Given a report's groups (keys, record count, measures) and the tenant's k:

1. **Small groups are suppressed.** A group of fewer than k records is left out: its keys
   and measures are withheld, and it is counted (groups, records) in the "other
   (suppressed)" row, which has no measures.
2. **MIN and MAX need k records.** An extreme of fewer than k values is one person's value;
   rule 1 already withholds those groups, and ``extreme_allowed`` states it on its own.
3. **Differencing within a report.** A shown group's measures are withheld when its count
   differs by fewer than k (and more than 0) from another shown group's count or from the
   report's total: subtracting two such aggregates would describe fewer than k people.

What these rules cannot prevent is stated in the README (differences *between* reports).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from storage.values import ReportGroup

__all__ = ["Row", "Suppressed", "extreme_allowed", "suppress"]

EXTREMES = frozenset({"MIN", "MAX"})


@dataclass(frozen=True, slots=True)
class Row:
    keys: tuple[object, ...]
    count: int
    #: One per measure; None where withheld or where the group has no values.
    measures: tuple[int | float | None, ...]
    #: Why measures were withheld ("differencing"), or None.
    withheld: str | None = None


@dataclass(frozen=True, slots=True)
class Suppressed:
    rows: tuple[Row, ...]
    #: The "other (suppressed)" row: how many groups, and how many records, it holds.
    other_groups: int
    other_records: int
    total: int
    k: int


def extreme_allowed(count: int, k: int) -> bool:
    """May MIN or MAX be given over *count* values? Only over k or more."""
    return count >= k


def _differs_little(count: int, others: Sequence[int], k: int) -> bool:
    return any(0 < abs(count - other) < k for other in others)


def suppress(groups: Sequence[ReportGroup], ops: Sequence[str], k: int) -> Suppressed:
    """The report as it may be shown: *groups* with rules 1 to 3 applied, in key order."""
    total = sum(g.count for g in groups)
    shown = [g for g in groups if g.count >= k]
    hidden = [g for g in groups if g.count < k]
    counts = [g.count for g in shown]
    rows = []
    for i, g in enumerate(shown):
        measures = tuple(
            None if op in EXTREMES and not extreme_allowed(g.count, k) else value
            for op, value in zip(ops, g.measures, strict=True)
        )
        withheld = None
        others = [*counts[:i], *counts[i + 1 :], total]
        if measures and _differs_little(g.count, others, k):
            measures, withheld = tuple(None for _ in measures), "differencing"
        rows.append(Row(g.keys, g.count, measures, withheld))
    rows.sort(key=lambda r: tuple((v is None, str(v)) for v in r.keys))
    return Suppressed(
        rows=tuple(rows),
        other_groups=len(hidden),
        other_records=sum(g.count for g in hidden),
        total=total,
        k=k,
    )
