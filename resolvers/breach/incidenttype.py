"""The GraphQL shape of an incident: its state, 72-hour clock, logs and report versions,
and its impact, measured when asked for.

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import datetime as dt

import strawberry
from strawberry.types import Info

from resolvers.breach.clock import hours_left, overdue, report_type
from resolvers.breach.fields import impact_type
from resolvers.breach.impact import measure_incident, one_per_request
from resolvers.context import RequestContext
from schema.breach import BreachImpactType
from schema.incidents import CompromisedKindEnum
from schema.incidenttypes import (
    AuthorityReportType,
    CompromisedType,
    ContainmentActionType,
    IncidentStateChangeType,
    IncidentStateEnum,
)
from schema.types import PageInfo
from storage.incidentvalues import Incident

__all__ = ["IncidentConnection", "IncidentType", "incident_type"]


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
    source: strawberry.Private[Incident]

    @strawberry.field(
        description="What the compromised principals received or changed in the window "
        "(until now while it is open), measured from the access and audit logs when asked; "
        "one impact per request."
    )
    async def impact(self, info: Info) -> BreachImpactType:
        ctx: RequestContext = info.context
        one_per_request(ctx, "Incident.impact")
        return impact_type(await measure_incident(ctx.store, self.source))


@strawberry.type
class IncidentConnection:
    nodes: list[IncidentType]
    page_info: PageInfo


def incident_type(incident: Incident, now: dt.datetime | None = None) -> IncidentType:
    now = now or dt.datetime.now(dt.UTC)
    return IncidentType(
        id=strawberry.ID(incident.id),
        state=IncidentStateEnum(incident.state),
        version=incident.version,
        origin=incident.origin,
        rule=incident.rule,
        nature=incident.nature,
        compromised=[
            CompromisedType(
                kind=CompromisedKindEnum(c.kind), id=None if c.id is None else strawberry.ID(c.id)
            )
            for c in incident.compromised
        ],
        window_start=incident.window_start,
        window_end=incident.window_end,
        detected_at=incident.detected_at,
        deadline=incident.deadline,
        hours_left=hours_left(incident, now),
        overdue=overdue(incident, now),
        history=[
            IncidentStateChangeType(
                at=h.at,
                from_=None if h.from_state is None else IncidentStateEnum(h.from_state),
                to=IncidentStateEnum(h.to_state),
                actor_id=h.actor_id,
                note=h.note,
            )
            for h in incident.history
        ],
        containment=[
            ContainmentActionType(at=c.at, action=c.action, target=c.target, outcome=c.outcome)
            for c in incident.containment
        ],
        reports=[report_type(r) for r in incident.reports],
        source=incident,
    )
