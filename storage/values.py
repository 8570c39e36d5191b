"""The values that cross the storage boundary: plain, frozen, no driver types.

Values are plain Python (``str``, ``int``, ``datetime.date``) keyed by the datasheet's field
names; encryption and the stored representation are the store's business. Every contract
of :mod:`storage.contract` takes and returns these.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from regions.countries import RegionName
from schema.roles import RoleDefinition, RowFilter, row_matches
from storage.incidentvalues import (
    AuthorityReportVersion,
    Compromised,
    CompromisedKind,
    ContainmentAction,
    Incident,
    IncidentOrigin,
    IncidentState,
    IncidentStateChange,
    TenantContact,
)

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "OPERATOR",
    "AccessEvent",
    "AccessQuery",
    "Actor",
    "ApiKey",
    "AuditEntry",
    "AuditQuery",
    "AuthorityReportVersion",
    "Compromised",
    "CompromisedKind",
    "ContainmentAction",
    "Credentials",
    "ErasureReport",
    "ExportJob",
    "Incident",
    "IncidentOrigin",
    "IncidentState",
    "IncidentStateChange",
    "Page",
    "PurgeOutcome",
    "Record",
    "ReportGroup",
    "ReportQuery",
    "Role",
    "RoleVersion",
    "RotationReport",
    "RowScope",
    "SavedReport",
    "SessionInfo",
    "TenantContact",
    "TenantInfo",
    "TenantStatus",
    "User",
    "Value",
    "VerifyReport",
]

#: Days a terminated tenant's data is kept before it is purged, unless set per tenant.
DEFAULT_RETENTION_DAYS = 180
TenantStatus = Literal["provisioning", "active", "suspended", "terminated", "purging", "purged"]
Value = str | int | dt.date | None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is making a change (in which request and sign-in session), as the audit log says."""

    user_id: str
    roles: tuple[str, ...] = ()
    kind: Literal["user", "api_key", "operator"] = "user"
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    session: str | None = None


#: The platform operator, as every audit entry, lifecycle claim and purge certificate names
#: them, whether the change came from the CLI, a gateway's periodic task or provisioning.
OPERATOR: Final = Actor(user_id="operator", kind="operator")


@dataclass(frozen=True, slots=True)
class Record:
    """One record of a datasheet, with the values that were asked for."""

    id: str
    version: int
    archived: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    owner: str | None
    values: Mapping[str, Value] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of checking a tenant's audit log against its signed checkpoints."""

    ok: bool
    entries: int
    sealed_through: int
    unsealed: int
    first_bad: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of the audit log; all given ones must hold."""

    actor: str | None = None
    datasheet: str | None = None
    record: str | None = None
    operation: str | None = None
    outcome: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    session: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit entry as a reader sees it; values only when asked for and not redacted."""

    seq: int
    at: dt.datetime
    actor: Mapping[str, Any]
    op: str
    operation: str | None
    datasheet: str | None
    record: str | None
    version: int | None
    fields: Sequence[str]
    outcome: str | None
    code: str | None
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    client: Mapping[str, Any] | None = None
    redacted: bool = False
    #: An event's ids, names and counts (an export's job, fields ...); None for changes.
    detail: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class AccessEvent:
    """One access to personal data (``kind="read"``) or one sign-in (``kind="login"``).

    Ids and field names only, never values; *client* (IP address, user agent) is personal
    data and is stored encrypted."""

    at: dt.datetime
    kind: Literal["read", "login", "export", "report"]
    principal: str
    roles: tuple[str, ...] = ()
    datasheet: str | None = None
    fields: tuple[str, ...] = ()
    records: tuple[str, ...] = ()
    purpose: str | None = None
    request_id: str | None = None
    client: Mapping[str, Any] | None = None
    detail: Mapping[str, Any] | None = None
    id: Any = None
    session: str | None = None


@dataclass(frozen=True, slots=True)
class AccessQuery:
    #: One kind, or any of several.
    kind: str | tuple[str, ...] | None = None
    principal: str | None = None
    datasheet: str | None = None
    record: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    session: str | None = None
    job: str | None = None


@dataclass(frozen=True, slots=True)
class RowScope:
    """The rows a caller may reach: any of *rows* (None: all), *caller* owning "own" rows.

    Storage puts it into the database query, so rows outside it are never fetched."""

    rows: tuple[RowFilter, ...] | None
    caller: str
    #: Further conditions of the same form, each of which must hold as well.
    also: tuple[tuple[RowFilter, ...], ...] = ()

    def matches(self, values: Mapping[str, object], owner: str | None) -> bool:
        return all(
            row_matches(rows, values, owner, self.caller) for rows in (self.rows, *self.also)
        )

    @property
    def fields(self) -> frozenset[str]:
        """The fields the conditions look at."""
        return frozenset(
            k for rows in (self.rows, *self.also) for f in rows or () for k in f.equals
        )


@dataclass(frozen=True, slots=True)
class Page:
    records: Sequence[Record]
    cursors: Sequence[str]  # one opaque cursor per record
    has_next_page: bool
    end_cursor: str | None


@dataclass(frozen=True, slots=True)
class ExportJob:
    """A bulk export a caller started: what to stream, for whom, until when.

    *equals* may hold personal values (a filter by last name): the store keeps it encrypted.
    """

    id: str
    principal_kind: Literal["user", "api_key"]
    principal_id: str
    datasheet: str
    format: Literal["ndjson", "csv"]
    fields: tuple[str, ...]
    equals: Mapping[str, Value]
    include_archived: bool
    after: str | None
    created_at: dt.datetime
    expires_at: dt.datetime
    #: A report's CSV (resolvers.reports): its definition without the filter (in *equals*).
    report: Mapping[str, Any] | None = None
    #: The sign-in session that started the job: its download is that session's access.
    session: str | None = None
    #: A breach notification list's compromised ids and window (resolvers.breach.notify).
    notification: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class TenantInfo:
    """A tenant's control record: no personal data."""

    id: str
    name: str
    country: str
    region: RegionName
    status: TenantStatus
    created_at: dt.datetime
    #: Days a terminated tenant's data is kept before it is purged (policy default 180).
    retention_days: int = DEFAULT_RETENTION_DAYS
    terminated_at: dt.datetime | None = None
    purge_due_at: dt.datetime | None = None
    #: After a purge: what was destroyed (tenant id, when, key id, counts). No personal data.
    certificate: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ErasureReport:
    """What erasing a data subject removed: record ids per datasheet, how many audit
    entries had their values redacted, and the sequence number of the erasure's own entry."""

    records: Mapping[str, Sequence[str]]
    audit_entries_redacted: int
    audit_entry: int


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    roles: tuple[str, ...]
    can_export: bool = False
    version: int = 1


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An integrator's key: scoped to one role; the secret itself is never stored."""

    id: str
    name: str
    role: str
    can_export: bool
    created_at: dt.datetime
    revoked: bool
    last_used_at: dt.datetime | None
    version: int


@dataclass(frozen=True, slots=True)
class Role:
    """A stored role and the version it is at."""

    definition: RoleDefinition
    version: int
    updated_at: dt.datetime
    updated_by: str | None = None


@dataclass(frozen=True, slots=True)
class RoleVersion:
    """One committed version of a role; *definition* is None where the change deleted it."""

    name: str
    version: int
    definition: RoleDefinition | None
    at: dt.datetime
    by: str


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """An open sign-in session as an admin may see it: no secret, no hash."""

    id: str
    opened_at: dt.datetime
    expires_at: dt.datetime
    #: What the session is limited to (e.g. enrolling a second factor), None for nothing.
    scope: str | None
    #: The sign-in that opened it checked a second factor.
    second_factor: bool


@dataclass(frozen=True, slots=True)
class Credentials:
    """What signing a user in needs; never leaves the gateway."""

    user_id: str
    roles: tuple[str, ...]
    version: int
    password_hash: str | None
    totp_secret: str | None
    totp_enabled: bool
    totp_pending: str | None


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """What a report aggregates: the records matching *equals* within *scope*, grouped by
    *group_by* (then by *bucket*: a date field and ``MONTH``/``QUARTER``/``YEAR``), with
    *measures* (op, field or None) per group. Checked by resolvers before it gets here."""

    group_by: tuple[str, ...]
    measures: tuple[tuple[str, str | None], ...]
    bucket: tuple[str, str] | None = None
    equals: Mapping[str, Value] = field(default_factory=dict)
    scope: RowScope | None = None
    include_archived: bool = False
    #: More groups than this: ``BAD_USER_INPUT`` (field ``groupBy``), nothing returned.
    max_groups: int = 1000
    #: Deadline of the whole aggregation's database reads, in seconds (instead of the
    #: per-reply socket timeout: a server grouping many records answers only at the end).
    read_deadline: float | None = None


@dataclass(frozen=True, slots=True)
class ReportGroup:
    """One group of a report, before suppression: its keys (group-by values in order, then
    the bucket label), its record count and one value per measure (None: no values)."""

    keys: tuple[Value, ...]
    count: int
    measures: tuple[int | float | None, ...]


@dataclass(frozen=True, slots=True)
class SavedReport:
    """A saved report definition of a tenant (as plain data: resolvers.reports)."""

    id: str
    name: str
    definition: Mapping[str, Any]
    version: int
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class PurgeOutcome:
    """What a purge run did to one tenant: ``purged`` (with its certificate) or an error code.
    A region that did not answer is reported as the tenant ``(<region>)``."""

    tenant_id: str
    outcome: str
    certificate: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RotationReport:
    """A master-key rotation of one region: how many data keys were rewrapped, and how many
    data keys each master key (KMS provider) wrapped before and after."""

    region: str
    provider: str
    rewrapped: int
    before: Mapping[str, int]
    after: Mapping[str, int]
