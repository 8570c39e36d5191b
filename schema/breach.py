"""GraphQL types of a breach's impact (resolvers.breach): ids, field names, categories and
counts, never a value of a record.

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import datetime as dt

import strawberry

__all__ = ["BreachImpactType", "BreachSheetImpactType"]


@strawberry.type(name="BreachSheetImpact", description="One datasheet's part of an impact.")
class BreachSheetImpactType:
    datasheet: str
    fields: list[str] = strawberry.field(description="Fields given (read or exported).")
    categories: list[str] = strawberry.field(description="The data categories of those fields.")
    records_read: int = strawberry.field(
        description="Distinct records given in any answer (lists, by id, exports)."
    )
    records_exported: int = strawberry.field(description="Distinct records given in exports.")
    records_changed: int = strawberry.field(description="Distinct records created or updated.")
    records_deleted: int = strawberry.field(description="Distinct records deleted or erased.")
    records: list[strawberry.ID] = strawberry.field(
        description="Every affected record's id (read, exported, changed or deleted)."
    )


@strawberry.type(
    name="BreachImpact",
    description="What the compromised principals received or changed in the window, from "
    "the access and audit logs.",
)
class BreachImpactType:
    since: dt.datetime
    until: dt.datetime
    principals: list[strawberry.ID] = strawberry.field(
        description="The principals (users' and API keys' ids) whose events count."
    )
    data_subjects: int = strawberry.field(description="Distinct people concerned.")
    records: int = strawberry.field(description="Distinct affected records.")
    exports_downloaded: int
    categories: list[str] = strawberry.field(description="Every data category concerned.")
    sheets: list[BreachSheetImpactType]
