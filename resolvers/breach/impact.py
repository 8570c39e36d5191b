"""What a breach touched, measured from the access log (who was given which fields of which
records) and the audit log (who changed, deleted or erased which records, who downloaded
which export).

Whose events count, by what was compromised:

- ``user``: the events whose principal is the user; ``api_key``: the key's (an API key's
  principal id is the key's id);
- ``session``: only the events of that sign-in session (the gateway writes the session into
  access events and audit entries; an export started in it is its download too);
- ``export_link``: that export job's download;
- ``platform``: every principal's.

Both logs are paged through by time window (*since* inclusive, *until* exclusive): memory is
one page plus the sets of affected record ids, never the log. Ids, names and counts only: no
value of any record is read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from resolvers.breach.categories import category_of
from resolvers.breach.values import Impact, SheetImpact
from resolvers.context import RequestContext
from schema.datasheets import DATASHEETS
from schema.errors import BadUserInputError
from storage.base import TenantStore
from storage.incidentvalues import Compromised, Incident
from storage.values import AccessEvent, AccessQuery, AuditEntry, AuditQuery

__all__ = ["MAX_EVENTS", "measure_impact", "measure_incident", "one_per_request"]

_PAGE = 500
T = TypeVar("T")
#: At most this many access events and audit entries are read for one impact: about two
#: minutes on the local FerretDB (bench.breach_impact), seconds on MongoDB. A window or set
#: of principals with more is refused (narrow it) rather than answered with a partial count.
MAX_EVENTS = 200_000
#: Access events that give records (reports aggregate, sign-ins give nothing).
_GIVING = ("read", "export")
_CHANGES = frozenset(("create", "update", "archive", "restore"))
_DELETES = frozenset(("delete",))
#: Collections besides the datasheets whose records are people: the tenant's users.
_PEOPLE = frozenset((*DATASHEETS, "users"))


@dataclass(slots=True)
class _Sheet:
    fields: set[str] = field(default_factory=set)
    read: set[str] = field(default_factory=set)
    exported: set[str] = field(default_factory=set)
    changed: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)

    def result(self, name: str) -> SheetImpact:
        return SheetImpact(
            datasheet=name,
            fields=tuple(sorted(self.fields)),
            categories=tuple(sorted({category_of(name, f).value for f in self.fields})),
            records_read=len(self.read),
            records_exported=len(self.exported),
            records_changed=len(self.changed),
            records_deleted=len(self.deleted),
            records=tuple(sorted(self.read | self.changed | self.deleted)),
        )


@dataclass(slots=True)
class _Tally:
    principals: set[str] = field(default_factory=set)
    sheets: dict[str, _Sheet] = field(default_factory=dict)
    downloads: set[str] = field(default_factory=set)
    read: int = 0

    def count(self, max_events: int) -> None:
        """One more event or entry read; ``BAD_USER_INPUT`` past *max_events*."""
        self.read += 1
        if self.read > max_events:
            raise BadUserInputError(
                f"more than {max_events} log entries in the window: narrow the window or "
                "name fewer principals",
                limit="impactEvents",
                max=max_events,
            )

    def given(self, event: AccessEvent) -> None:
        if event.datasheet is None or not event.records:
            return
        self.principals.add(event.principal)
        sheet = self.sheets.setdefault(event.datasheet, _Sheet())
        sheet.fields.update(event.fields)
        sheet.read.update(event.records)
        if event.kind == "export":
            sheet.exported.update(event.records)

    def audited(self, entry: AuditEntry, job: str | None) -> None:
        if entry.outcome != "committed":  # refused attempts, aborted intents changed nothing
            return
        actor = str(entry.actor.get("id") or "")
        if entry.op == "export_download":
            downloaded = str((entry.detail or {}).get("job") or f"audit:{entry.seq}")
            if job is None or downloaded == job:
                self.downloads.add(downloaded)
                self.principals.add(actor)
            return
        if job is not None or entry.datasheet not in _PEOPLE or entry.record is None:
            return
        if entry.op in _CHANGES:
            self.sheets.setdefault(entry.datasheet, _Sheet()).changed.add(entry.record)
        elif entry.op in _DELETES:
            self.sheets.setdefault(entry.datasheet, _Sheet()).deleted.add(entry.record)
        else:
            return
        self.principals.add(actor)


def _queries(
    c: Compromised, since: dt.datetime, until: dt.datetime
) -> tuple[AccessQuery, AuditQuery]:
    """The access and audit queries of one compromised principal or link."""
    if c.kind in ("user", "api_key"):
        return (
            AccessQuery(kind=_GIVING, principal=c.id, since=since, until=until),
            AuditQuery(actor=c.id, since=since, until=until),
        )
    if c.kind == "session":
        return (
            AccessQuery(kind=_GIVING, session=c.id, since=since, until=until),
            AuditQuery(session=c.id, since=since, until=until),
        )
    if c.kind == "export_link":
        return (
            AccessQuery(kind="export", job=c.id, since=since, until=until),
            AuditQuery(operation="export_download", since=since, until=until),
        )
    return AccessQuery(kind=_GIVING, since=since, until=until), AuditQuery(since=since, until=until)


async def _paged(
    page: Callable[[Any], Awaitable[tuple[Sequence[T], bool]]], cursor: Callable[[T], Any]
) -> AsyncIterator[T]:
    """Every item of a log, a page at a time (newest first), *cursor* giving the next
    page's start from a page's last item."""
    after = None
    while True:
        items, more = await page(after)
        for item in items:
            yield item
        if not more or not items:
            return
        after = cursor(items[-1])


async def _count(
    store: TenantStore,
    tally: _Tally,
    c: Compromised,
    since: dt.datetime,
    until: dt.datetime,
    max_events: int,
) -> None:
    """Add what *c* received and changed in the window to *tally*."""
    access, audit = _queries(c, since, until)
    events = _paged(
        lambda after: store.access_log.page(access, first=_PAGE, after=after),
        lambda event: event.id,
    )
    async for event in events:
        tally.count(max_events)
        tally.given(event)
    job = c.id if c.kind == "export_link" else None
    entries = _paged(
        lambda after: store.audit.page(audit, first=_PAGE, after=after),
        lambda entry: entry.seq,
    )
    async for entry in entries:
        tally.count(max_events)
        tally.audited(entry, job)


async def measure_impact(
    store: TenantStore,
    compromised: Sequence[Compromised],
    since: dt.datetime,
    until: dt.datetime,
    *,
    max_events: int = MAX_EVENTS,
) -> Impact:
    """What *compromised* received (read or exported), changed and deleted from *since*
    (inclusive) to *until* (exclusive): exact counts and the affected record ids, from the
    tenant's access and audit logs. Nothing (an empty impact) when *until* <= *since*.
    ``BAD_USER_INPUT`` when that takes reading more than *max_events* log entries."""
    tally = _Tally()
    for c in compromised:
        if c.kind in ("user", "api_key") and c.id is not None:
            tally.principals.add(c.id)
        if since < until:
            await _count(store, tally, c, since, until, max_events)
    tally.principals.discard("")
    return Impact(
        principals=tuple(sorted(tally.principals)),
        since=since,
        until=until,
        sheets=tuple(s.result(name) for name, s in sorted(tally.sheets.items())),
        exports_downloaded=len(tally.downloads),
    )


async def measure_incident(store: TenantStore, incident: Incident) -> Impact:
    """The impact of *incident*: its compromised principals and links over its window,
    until now while the window is open."""
    until = incident.window_end or dt.datetime.now(dt.UTC)
    return await measure_impact(store, incident.compromised, incident.window_start, until)


def one_per_request(ctx: RequestContext, what: str) -> None:
    """Allow one impact measurement in *ctx*'s request (each may read up to
    :data:`MAX_EVENTS` log entries; aliases or a list of incidents must not multiply that);
    ``BAD_USER_INPUT`` for a second."""
    if ctx.impacts:
        raise BadUserInputError(
            "one breach impact per request: ask for the others in their own requests",
            limit="impacts",
            max=1,
        )
    ctx.impacts.append(what)
