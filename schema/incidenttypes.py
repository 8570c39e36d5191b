"""GraphQL types of breach incidents, their 72-hour clock, containment log, authority report
versions, and the tenant's contact point (inputs and enums shared with the impact and
notification parts are in :mod:`schema.incidents`).

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import datetime as dt
import enum

import strawberry
from strawberry.scalars import JSON

from schema.incidents import CompromisedInput, CompromisedKindEnum
from schema.types import PageInfo

__all__ = [
    "AuthorityReportType",
    "CompromisedType",
    "ContainmentActionType",
    "IncidentConnection",
    "IncidentReportInput",
    "IncidentStateChangeType",
    "IncidentStateEnum",
    "IncidentType",
    "OpenIncidentInput",
    "TenantContactInput",
    "TenantContactType",
]


@strawberry.enum(name="IncidentState")
class IncidentStateEnum(enum.Enum):
    SUSPECTED = "suspected"
    CONFIRMED = "confirmed"
    REPORTED = "reported"
    CLOSED = "closed"
    DISMISSED = "dismissed"


@strawberry.type(name="Compromised")
class CompromisedType:
    kind: CompromisedKindEnum
    id: strawberry.ID | None


@strawberry.type(name="IncidentStateChange")
class IncidentStateChangeType:
    at: dt.datetime
    from_: IncidentStateEnum | None = strawberry.field(name="from")
    to: IncidentStateEnum
    actor_id: str
    note: str | None


@strawberry.type(name="ContainmentAction")
class ContainmentActionType:
    at: dt.datetime
    action: str
    target: str
    outcome: str


@strawberry.type(name="AuthorityReport", description="One version of the Art. 33 report.")
class AuthorityReportType:
    version: int
    submitted_at: dt.datetime
    late: bool = strawberry.field(description="Submitted after the 72-hour deadline.")
    delay_reason: str | None
    document: JSON
    html: str = strawberry.field(description="The document as a readable HTML page.")


@strawberry.type(name="Incident", description="A personal-data breach and what was done.")
class IncidentType:
    id: strawberry.ID
    state: IncidentStateEnum
    version: int
    origin: str = strawberry.field(description="admin, detection or operator.")
    rule: str | None
    nature: str | None
    compromised: list[CompromisedType]
    window_start: dt.datetime
    window_end: dt.datetime | None
    detected_at: dt.datetime = strawberry.field(description="Starts the 72-hour clock.")
    deadline: dt.datetime = strawberry.field(description="detectedAt + 72 hours (Art. 33(1)).")
    hours_left: float = strawberry.field(description="Until the deadline; negative past it.")
    overdue: bool = strawberry.field(
        description="Past the deadline and no report to the authority filed."
    )
    history: list[IncidentStateChangeType]
    containment: list[ContainmentActionType]
    reports: list[AuthorityReportType]


@strawberry.type
class IncidentConnection:
    nodes: list[IncidentType]
    page_info: PageInfo


@strawberry.input
class OpenIncidentInput:
    compromised: list[CompromisedInput]
    window_start: dt.datetime
    window_end: dt.datetime | None = None
    nature: str | None = None
    detected_at: dt.datetime | None = strawberry.field(
        default=None, description="When the breach became known; now if not given."
    )


@strawberry.input
class IncidentReportInput:
    likely_consequences: str | None = strawberry.field(
        default=None, description="Defaults to the consequences of the data categories."
    )
    measures: str | None = strawberry.field(
        default=None, description="Defaults to the incident's containment log."
    )
    delay_reason: str | None = strawberry.field(
        default=None, description="Required after the 72-hour deadline (Art. 33(1))."
    )


@strawberry.type(name="TenantContact", description="The contact point for the authority.")
class TenantContactType:
    name: str
    email: str
    phone: str | None


@strawberry.input
class TenantContactInput:
    name: str
    email: str
    phone: str | None = None
