"""GraphQL types of a tenant's end: termination and the erasure of a data subject.

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import datetime as dt

import strawberry

__all__ = ["ErasedRecords", "Erasure", "Termination"]


@strawberry.type
class Termination:
    tenant_id: strawberry.ID
    status: str
    terminated_at: dt.datetime | None
    purge_due_at: dt.datetime | None = strawberry.field(
        description="When the data and the key are destroyed unless the tenant is restored."
    )


@strawberry.type
class ErasedRecords:
    datasheet: str
    ids: list[strawberry.ID]
    count: int


@strawberry.type
class Erasure:
    records: list[ErasedRecords]
    total: int
    audit_entries_redacted: int = strawberry.field(
        description="Audit entries about the erased records whose values were redacted."
    )
    audit_entry: int = strawberry.field(description="Sequence number of the erasure's entry.")
