"""GraphQL types of reports: definitions, measures, rows and download links.

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import datetime as dt
import enum

import strawberry

from schema.exports import ExportFilterInput

__all__ = [
    "Report",
    "ReportCsvLink",
    "ReportDefinition",
    "ReportDefinitionInput",
    "ReportMeasure",
    "ReportMeasureInput",
    "ReportOp",
    "ReportOther",
    "ReportRow",
    "TimeBucketInput",
    "TimeUnit",
]


@strawberry.enum
class ReportOp(enum.Enum):
    COUNT = "COUNT"
    SUM = "SUM"
    AVG = "AVG"
    MIN = "MIN"
    MAX = "MAX"


@strawberry.enum
class TimeUnit(enum.Enum):
    MONTH = "MONTH"
    QUARTER = "QUARTER"
    YEAR = "YEAR"


@strawberry.input
class ReportMeasureInput:
    op: ReportOp
    field: str | None = None


@strawberry.input
class TimeBucketInput:
    field: str
    unit: TimeUnit


@strawberry.input
class ReportDefinitionInput:
    datasheet: str
    group_by: list[str] = strawberry.field(default_factory=list)
    time_bucket: TimeBucketInput | None = None
    filter: list[ExportFilterInput] | None = None
    measures: list[ReportMeasureInput] = strawberry.field(default_factory=list)
    include_archived: bool = False


@strawberry.type
class ReportRow:
    keys: list[str | None]
    records: int
    measures: list[float | None] = strawberry.field(
        description="One per measure; null where withheld or where the group has no values."
    )
    withheld: str | None = strawberry.field(
        description='Why the measures were withheld: "differencing" (the count is within k '
        "of another group's or of the total)."
    )


@strawberry.type
class ReportOther:
    label: str
    groups: int
    records: int


@strawberry.type
class Report:
    key_names: list[str]
    measure_names: list[str]
    rows: list[ReportRow]
    other: ReportOther = strawberry.field(
        description="Groups of fewer than minimumGroupSize records: counted, never shown."
    )
    total: int
    minimum_group_size: int


@strawberry.type
class ReportCsvLink:
    id: strawberry.ID
    url: str = strawberry.field(description="Download it once with GET before `expiresAt`.")
    expires_at: dt.datetime


@strawberry.type
class ReportMeasure:
    op: str
    field: str | None


@strawberry.type
class ReportDefinition:
    id: strawberry.ID
    name: str
    version: int
    datasheet: str
    group_by: list[str]
    time_bucket_field: str | None
    time_bucket_unit: str | None
    measures: list[ReportMeasure]
    filter_fields: list[str]
    updated_at: dt.datetime
