"""GraphQL types of exports: formats, filters, jobs.

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import datetime as dt
import enum

import strawberry

__all__ = ["ExportFilterInput", "ExportFormat", "ExportJobType"]


@strawberry.enum
class ExportFormat(enum.Enum):
    NDJSON = "ndjson"
    CSV = "csv"


@strawberry.input
class ExportFilterInput:
    field: str
    value: str


@strawberry.type
class ExportJobType:
    id: strawberry.ID
    datasheet: str
    format: ExportFormat
    columns: list[str]
    total: int = strawberry.field(
        description="Records the export holds (after `afterId`), counted at start."
    )
    url: str = strawberry.field(
        description="Download it once with GET before `expiresAt`; no other credential needed."
    )
    expires_at: dt.datetime
