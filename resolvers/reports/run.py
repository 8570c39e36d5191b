"""Running a report: plan it, aggregate in storage, suppress, log the access; and its CSV.

Every run, shown or downloaded, is one access-log event (``kind="report"``): the
datasheet, the fields it grouped, bucketed, measured or filtered by, and how many records
it aggregated — no record ids, no values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from resolvers.authz.policy import Policy
from resolvers.exportstream import csv_lines
from resolvers.reports.plan import Definition, key_names, labels, plan_report
from resolvers.reports.rules import Suppressed, suppress
from storage.base import TenantStore

__all__ = ["OTHER", "ReportAccess", "report_csv", "run_report"]

OTHER = "other (suppressed)"


class ReportAccess(Protocol):
    def report(self, datasheet: str, fields: Sequence[str], aggregated: int) -> None: ...


async def run_report(
    store: TenantStore,
    policy: Policy,
    caller: str,
    d: Definition,
    access: ReportAccess,
    read_deadline: float | None = None,
) -> Suppressed:
    """The report *d* as *caller* may see it (``FORBIDDEN``/``BAD_USER_INPUT`` otherwise);
    its database reads have *read_deadline* seconds in all (exports' deadline)."""
    planned = plan_report(policy, d, caller)
    k = await store.reports.minimum_group_size()
    query = replace(planned.query, read_deadline=read_deadline)
    groups = await store.reports.aggregate(planned.sheet, query)
    result = suppress(groups, planned.ops, k)
    access.report(planned.sheet.name, d.fields, result.total)
    return result


def report_csv(d: Definition, result: Suppressed) -> bytes:
    """The report as CSV: ``row`` (``group`` or the "other" row, last), the keys,
    ``records``, the measures. Cells are escaped as in exports (a group key is text someone
    typed: it may start with ``=``)."""
    keys, measures = key_names(d), labels(d)
    rows: list[list[object]] = [["row", *keys, "records", *measures]]
    rows += [["group", *r.keys, r.count, *r.measures] for r in result.rows]
    if result.other_groups:
        blank: list[object] = [None] * len(keys)
        rows.append([OTHER, *blank, result.other_records, *([None] * len(measures))])
    return csv_lines(rows)
