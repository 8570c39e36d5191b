"""What a breach touched, as measured from the access and audit logs: the values shared by
the impact measure, the authority's report and the notification list.

Ids, field names, categories and counts only: never a value of a record.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = ["Impact", "SheetImpact"]


@dataclass(frozen=True, slots=True)
class SheetImpact:
    """One datasheet's part of an impact."""

    datasheet: str
    #: Fields given to the principals (read or exported), by name, sorted.
    fields: tuple[str, ...]
    #: The data categories of those fields (declared beside the datasheets), sorted.
    categories: tuple[str, ...]
    #: Distinct records given in any answer (lists, by id, compiled reads, exports).
    records_read: int
    #: Distinct records given in a downloaded export.
    records_exported: int
    #: Distinct records changed (created or updated) by the principals.
    records_changed: int
    #: Distinct records deleted or erased by the principals.
    records_deleted: int
    #: Every affected record id of this datasheet (read, exported, changed or deleted), sorted.
    records: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Impact:
    """What *principals* (access-log principal ids: a user's or an API key's id) received or
    changed between *since* (inclusive) and *until* (exclusive)."""

    principals: tuple[str, ...]
    since: dt.datetime
    until: dt.datetime
    sheets: tuple[SheetImpact, ...]
    #: Export downloads by the principals in the window.
    exports_downloaded: int

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(sorted({c for s in self.sheets for c in s.categories}))

    @property
    def records(self) -> int:
        """Distinct affected records over every datasheet."""
        return sum(len(s.records) for s in self.sheets)

    @property
    def data_subjects(self) -> int:
        """Distinct people concerned: every record of a datasheet is one data subject
        (employees, contacts, applicants), so the count of distinct affected records."""
        return self.records
