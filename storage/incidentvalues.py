"""The values of breach incidents (GDPR Art. 33/34), re-exported by :mod:`storage.values`.

An incident holds ids and names only, never a data subject's values; its free text (the
nature of the breach, notes, report texts) is the tenant's and is kept encrypted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = [
    "DEADLINE",
    "OPEN_STATES",
    "TRANSITIONS",
    "AuthorityReportVersion",
    "Compromised",
    "CompromisedKind",
    "ContainmentAction",
    "Incident",
    "IncidentOrigin",
    "IncidentState",
    "IncidentStateChange",
    "TenantContact",
]

CompromisedKind = Literal["user", "api_key", "session", "export_link", "platform"]
IncidentState = Literal["suspected", "confirmed", "reported", "closed", "dismissed"]
#: Who opened an incident: a tenant admin, a detection rule, or a platform operator.
IncidentOrigin = Literal["admin", "detection", "operator"]

#: Art. 33(1): the supervisory authority is told within 72 hours of becoming aware.
DEADLINE: Final = dt.timedelta(hours=72)
#: The states in which an incident is still open (a rule does not open another one).
OPEN_STATES: Final = frozenset(("suspected", "confirmed"))
#: The state changes allowed, from each state.
TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    "suspected": frozenset(("confirmed", "dismissed")),
    "confirmed": frozenset(("reported", "dismissed")),
    "reported": frozenset(("closed",)),
    "closed": frozenset(),
    "dismissed": frozenset(),
}


@dataclass(frozen=True, slots=True)
class Compromised:
    """What a breach incident names as compromised: a user, an API key, a sign-in session or
    an export's download link by id; or the whole platform (no id: e.g. the database was
    exposed, every principal of the tenant is concerned)."""

    kind: CompromisedKind
    id: str | None = None


@dataclass(frozen=True, slots=True)
class IncidentStateChange:
    """One step of an incident's state machine (*from_state* None where it was opened)."""

    at: dt.datetime
    from_state: IncidentState | None
    to_state: IncidentState
    actor_id: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class ContainmentAction:
    """One containment step: e.g. ``end_sessions`` of ``user:<id>``, outcome ``2 ended``."""

    at: dt.datetime
    action: str
    target: str
    outcome: str


@dataclass(frozen=True, slots=True)
class AuthorityReportVersion:
    """One version of the report to the supervisory authority (Art. 33(3), phased as
    Art. 33(4) allows): the document as submitted, and whether it came after the deadline."""

    version: int
    submitted_at: dt.datetime
    late: bool
    delay_reason: str | None
    document: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Incident:
    """A breach incident of one tenant and everything done about it."""

    id: str
    state: IncidentState
    version: int
    origin: IncidentOrigin
    rule: str | None
    nature: str | None
    compromised: tuple[Compromised, ...]
    window_start: dt.datetime
    window_end: dt.datetime | None
    detected_at: dt.datetime
    history: tuple[IncidentStateChange, ...] = ()
    containment: tuple[ContainmentAction, ...] = ()
    reports: tuple[AuthorityReportVersion, ...] = ()

    @property
    def deadline(self) -> dt.datetime:
        """When the authority must have been told (72 hours after detection)."""
        return self.detected_at + DEADLINE


@dataclass(frozen=True, slots=True)
class TenantContact:
    """The tenant's contact point for the authority (its DPO or privacy contact)."""

    name: str
    email: str
    phone: str | None = None
