"""Incidents as stored (plain Python, before the write path encrypts their free text)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from storage.values import (
    AuthorityReportVersion,
    Compromised,
    ContainmentAction,
    Incident,
    IncidentStateChange,
)

__all__ = ["change_doc", "incident_from_doc", "report_doc", "step_doc"]


def _utc(at: Any) -> dt.datetime:
    assert isinstance(at, dt.datetime)
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def change_doc(
    at: dt.datetime, from_state: str | None, to_state: str, actor_id: str, note: str | None
) -> dict[str, Any]:
    return {"at": at, "from": from_state, "to": to_state, "actor": actor_id, "note": note}


def step_doc(action: ContainmentAction) -> dict[str, Any]:
    return {
        "at": action.at,
        "action": action.action,
        "target": action.target,
        "outcome": action.outcome,
    }


def report_doc(
    version: int,
    at: dt.datetime,
    late: bool,
    delay_reason: str | None,
    document: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "version": version,
        "at": at,
        "late": late,
        "delayReason": delay_reason,
        "document": dict(document),
    }


def incident_from_doc(doc: Mapping[str, Any]) -> Incident:
    end = doc.get("windowEnd")
    return Incident(
        id=doc["_id"],
        state=doc["state"],
        version=int(doc["_v"]),
        origin=doc["origin"],
        rule=doc.get("rule"),
        nature=doc.get("nature"),
        compromised=tuple(
            Compromised(c["kind"], c.get("id")) for c in doc.get("compromised") or ()
        ),
        window_start=_utc(doc["windowStart"]),
        window_end=None if end is None else _utc(end),
        detected_at=_utc(doc["detectedAt"]),
        history=tuple(
            IncidentStateChange(_utc(h["at"]), h.get("from"), h["to"], h["actor"], h.get("note"))
            for h in doc.get("history") or ()
        ),
        containment=tuple(
            ContainmentAction(_utc(c["at"]), c["action"], c["target"], c["outcome"])
            for c in doc.get("containment") or ()
        ),
        reports=tuple(
            AuthorityReportVersion(
                int(r["version"]),
                _utc(r["at"]),
                bool(r["late"]),
                r.get("delayReason"),
                dict(r.get("document") or {}),
            )
            for r in doc.get("reports") or ()
        ),
    )
