"""The 72-hour clock of an incident (Art. 33(1)), and the GraphQL shape of its reports."""

from __future__ import annotations

import datetime as dt
from typing import Any

from resolvers.breach.reporthtml import render_html
from schema.incidenttypes import (
    AuthorityReportType,
)
from storage.incidentvalues import AuthorityReportVersion, Incident

__all__ = ["hours_left", "overdue", "report_type"]


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
