"""The 72-hour clock of an incident (Art. 33(1)), and its GraphQL shape."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry

from resolvers.breach.reporthtml import render_html
from schema.incidents import CompromisedKindEnum
from schema.incidenttypes import (
    AuthorityReportType,
    CompromisedType,
    ContainmentActionType,
    IncidentStateChangeType,
    IncidentStateEnum,
    IncidentType,
)
from storage.values import AuthorityReportVersion, Incident

__all__ = ["hours_left", "incident_type", "overdue", "report_type"]


def hours_left(incident: Incident, now: dt.datetime) -> float:
    """Hours until the deadline (negative past it), to the minute."""
    return round((incident.deadline - now).total_seconds() / 3600, 2)


def overdue(incident: Incident, now: dt.datetime) -> bool:
    """Past the deadline with no report filed, and not dismissed."""
    pending = incident.state in ("suspected", "confirmed") and not incident.reports
    return pending and now > incident.deadline


def _json(document: Any) -> Any:
    """*document* as the ``JSON`` scalar (any JSON-ready value)."""
    return dict(document)


def report_type(report: AuthorityReportVersion) -> AuthorityReportType:
    return AuthorityReportType(
        version=report.version,
        submitted_at=report.submitted_at,
        late=report.late,
        delay_reason=report.delay_reason,
        document=_json(report.document),
        html=render_html(report.document),
    )


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
    )
