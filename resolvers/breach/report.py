"""The report to the supervisory authority (GDPR Art. 33(3)), built from an incident.

The document holds what Art. 33(3) asks for: (a) the nature of the breach with the
categories and approximate numbers of data subjects and of records concerned, (b) a contact
point, (c) the likely consequences, (d) the measures taken or proposed. The numbers come
from an :class:`~resolvers.breach.values.Impact` measured from the access and audit logs
(exact, so "approximate" is an upper bound never exceeded). Ids, names, counts and the
tenant's own texts only: never a value of a record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from resolvers.breach.values import Impact
from storage.values import ContainmentAction, Incident, TenantContact

__all__ = ["build_report", "default_consequences", "default_measures", "is_late"]


def is_late(incident: Incident, at: dt.datetime) -> bool:
    """Whether a report submitted *at* comes after the 72-hour deadline."""
    return at > incident.deadline


def default_consequences(categories: Iterable[str]) -> list[str]:
    """What the people concerned may suffer, per data category (a plain default; the
    tenant's admins give their own assessment where they have one)."""
    named = sorted(set(categories))
    if not named:
        return ["none known: no personal data was found to have been received"]
    return [f"disclosure of {c} data to someone not entitled to it" for c in named]


def default_measures(log: Iterable[ContainmentAction]) -> list[str]:
    """The containment log as measures taken."""
    taken = [
        f"{a.at.astimezone(dt.UTC).isoformat(timespec='seconds')}: {a.action} "
        f"({a.target}): {a.outcome}"
        for a in log
    ]
    return taken or ["none taken yet"]


def _impact(impact: Impact | None) -> dict[str, Any]:
    if impact is None:
        return {
            "dataCategories": [],
            "dataSubjects": {"approximateNumber": None, "categories": []},
            "records": {"approximateNumber": None, "perDatasheet": []},
        }
    return {
        "dataCategories": list(impact.categories),
        "dataSubjects": {
            "approximateNumber": impact.data_subjects,
            # Each datasheet holds one kind of person (employees, contacts, applicants).
            "categories": sorted({s.datasheet for s in impact.sheets if s.records}),
        },
        "records": {
            "approximateNumber": impact.records,
            "exportsDownloaded": impact.exports_downloaded,
            "perDatasheet": [
                {
                    "datasheet": s.datasheet,
                    "records": len(s.records),
                    "read": s.records_read,
                    "exported": s.records_exported,
                    "changed": s.records_changed,
                    "deleted": s.records_deleted,
                    "fields": list(s.fields),
                    "categories": list(s.categories),
                }
                for s in impact.sheets
            ],
            "measuredFrom": impact.since.isoformat(),
            "measuredUntil": impact.until.isoformat(),
        },
    }


def build_report(
    incident: Incident,
    impact: Impact | None,
    contact: TenantContact | None,
    *,
    submitted_at: dt.datetime,
    likely_consequences: str | None = None,
    measures: str | None = None,
    delay_reason: str | None = None,
    consequences: Callable[[Iterable[str]], list[str]] = default_consequences,
) -> dict[str, Any]:
    """The Art. 33(3) document of *incident*: JSON-ready (strings, numbers, lists, maps).

    *likely_consequences* and *measures* are the admin's words where given; otherwise they
    are derived from the impact's data categories and from the containment log."""
    measured = _impact(impact)
    return {
        "incident": incident.id,
        "version": len(incident.reports) + 1,
        "submittedAt": submitted_at.isoformat(),
        "nature": {
            "description": incident.nature,
            "origin": incident.origin,
            "rule": incident.rule,
            "compromised": [
                {"kind": c.kind, "id": c.id} if c.id is not None else {"kind": c.kind}
                for c in incident.compromised
            ],
            "windowStart": incident.window_start.isoformat(),
            "windowEnd": None if incident.window_end is None else incident.window_end.isoformat(),
        },
        **measured,
        "contactPoint": None
        if contact is None
        else {"name": contact.name, "email": contact.email, "phone": contact.phone},
        "likelyConsequences": [likely_consequences]
        if likely_consequences
        else consequences(measured["dataCategories"]),
        "measures": [measures] if measures else default_measures(incident.containment),
        "timing": {
            "detectedAt": incident.detected_at.isoformat(),
            "deadline": incident.deadline.isoformat(),
            "late": is_late(incident, submitted_at),
            "delayReason": delay_reason,
        },
    }
