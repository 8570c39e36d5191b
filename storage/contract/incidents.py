"""Breach incidents of one tenant (GDPR Art. 33/34), and the tenant's contact point."""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, Final

from storage.values import (
    Actor,
    Compromised,
    ContainmentAction,
    Incident,
    IncidentOrigin,
    IncidentState,
    TenantContact,
)

__all__ = ["DETECTION", "IncidentStore"]

#: The detection rules, as the audit log names them when they open an incident.
DETECTION: Final = Actor(user_id="detection", kind="operator")


class IncidentStore(ABC):
    """Incidents hold ids and names, never a data subject's values; their free text (nature,
    notes, report texts) is encrypted under the tenant key. Every change is audited (an
    entry of collection ``incidents``), and an incident document changed outside the gateway
    (its MAC fails) is treated as absent. Each change moves the incident to its next
    version; changes at another version are refused (``ConflictError``)."""

    @abstractmethod
    async def open(
        self,
        compromised: Sequence[Compromised],
        window_start: dt.datetime,
        window_end: dt.datetime | None,
        actor: Actor,
        *,
        origin: IncidentOrigin,
        nature: str | None = None,
        detected_at: dt.datetime | None = None,
        state: IncidentState = "confirmed",
        rule: str | None = None,
    ) -> Incident:
        """Open an incident at version 1 (*detected_at* defaults to now, which starts its
        72-hour clock); audited. ``BadUserInputError`` for nothing compromised, a window that
        ends before it starts, or a state other than suspected or confirmed."""

    @abstractmethod
    async def open_suspected(
        self,
        rule: str,
        compromised: Sequence[Compromised],
        since: dt.datetime,
        until: dt.datetime,
        summary: str,
    ) -> str | None:
        """Open a suspected incident for detection *rule* (origin ``detection``, detected
        now, *summary* as its nature) and return its id; None if an incident of *rule* for
        the same compromised principals is still open (suspected or confirmed). Of
        concurrent calls for the same rule and principals at most one opens one. Audited,
        the actor being :data:`DETECTION`."""

    @abstractmethod
    async def get(self, incident_id: str) -> Incident | None:
        """The incident *incident_id*; None if there is none."""

    @abstractmethod
    async def page(
        self, state: IncidentState | None, *, first: int, after: str | None = None
    ) -> tuple[list[Incident], bool]:
        """Incidents (of *state* if given), newest first, *first* of them after the one with
        id *after*, and whether there are more."""

    @abstractmethod
    async def change_state(
        self,
        incident_id: str,
        state: IncidentState,
        expected_version: int,
        actor: Actor,
        note: str | None = None,
    ) -> Incident:
        """Move the incident to *state* (allowed moves: ``storage.incidentvalues.TRANSITIONS``),
        recorded in its history with *note*; audited. ``NotFoundError``, ``ConflictError``
        at another version, ``BadUserInputError`` (field ``state``) for a move not allowed."""

    @abstractmethod
    async def add_containment(
        self, incident_id: str, actions: Sequence[ContainmentAction], actor: Actor
    ) -> Incident:
        """Append *actions* to the incident's containment log; audited. ``NotFoundError``."""

    @abstractmethod
    async def add_report(
        self,
        incident_id: str,
        document: Mapping[str, Any],
        delay_reason: str | None,
        actor: Actor,
    ) -> Incident:
        """Keep *document* as the next version of the incident's authority report (late if
        after the deadline) and, if the incident is confirmed, move it to reported; audited.
        ``NotFoundError``; ``BadUserInputError`` (field ``delayReason``) for a late report
        without *delay_reason*, or (field ``state``) for an incident suspected, closed or
        dismissed."""

    @abstractmethod
    async def contact(self) -> TenantContact | None:
        """The tenant's contact point for the authority; None if none was set."""

    @abstractmethod
    async def set_contact(self, contact: TenantContact, actor: Actor) -> TenantContact:
        """Set the tenant's contact point (kept encrypted); audited. ``BadUserInputError``
        for an empty name or an email without ``@``."""
