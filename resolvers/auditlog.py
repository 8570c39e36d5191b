"""Reading the audit log over GraphQL.

Admins read every entry with its values and the caller's IP address and user agent. Any
other user may read the entries of one datasheet on which their role covers all rows, with
values only for the fields they may read in full; never role, user or redaction entries,
nor IP addresses. No API updates or deletes an entry.

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import base64
import binascii
import datetime as dt
from typing import Any

import strawberry
from bson import ObjectId
from bson.errors import InvalidId
from strawberry.types import Info

from resolvers.authz.guards import admin_context
from resolvers.context import RequestContext
from resolvers.selection import selected_fields
from schema.audit import (
    AccessConnection,
    AccessEventType,
    AuditConnection,
    AuditEntryType,
    AuditFilter,
    FieldChange,
)
from schema.datasheets import DATASHEETS
from schema.errors import BadUserInputError, ForbiddenError
from schema.types import PageInfo
from storage.values import AccessEvent, AccessQuery, AuditEntry, AuditQuery

__all__ = ["AuditQueryRoot"]


def _utc(value: dt.datetime | None, argument: str) -> dt.datetime | None:
    """A time argument in UTC, as stored; one that falls outside years 1 to 9999 in UTC is
    bad input, not an error of ours."""
    if value is None:
        return None
    try:
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise BadUserInputError(f"{argument} is out of range", argument=argument) from None


def _cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"a1:{seq}".encode()).decode().rstrip("=")


def _seq(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw.startswith("a1:") and raw[3:].isdigit() and int(raw[3:]) < 2**63:
            return int(raw[3:])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise BadUserInputError("malformed cursor", argument="after")


def _node(entry: AuditEntry, readable: frozenset[str] | None, admin: bool) -> AuditEntryType:
    changes = []
    if entry.before is not None or entry.after is not None:
        before, after = entry.before or {}, entry.after or {}
        for name in sorted(set(before) | set(after)):
            if readable is None or name in readable:
                changes.append(
                    FieldChange(field=name, before=before.get(name), after=after.get(name))
                )
    client: dict[str, Any] = dict(entry.client or {}) if admin else {}
    return AuditEntryType(
        sequence=entry.seq,
        at=entry.at,
        actor_kind=str(entry.actor.get("kind")),
        actor_id=str(entry.actor.get("id")),
        actor_roles=list(entry.actor.get("roles") or ()),
        request_id=entry.actor.get("requestId"),
        ip=client.get("ip"),
        user_agent=client.get("userAgent"),
        operation=entry.operation or entry.op,
        datasheet=entry.datasheet,
        record=strawberry.ID(entry.record) if entry.record else None,
        version=entry.version,
        fields=[f for f in entry.fields if readable is None or f in readable],
        outcome=entry.outcome,
        code=entry.code,
        redacted=entry.redacted,
        changes=changes,
    )


def _record_values_read(
    ctx: RequestContext, entries: list[AuditEntry], nodes: list[AuditEntryType]
) -> None:
    """An access event per datasheet for the values the page gives: reading a value through
    the audit log is reading it, as through the record. An entry with no record (a tenant
    event such as a subject access request) is named ``audit:<sequence>``."""
    given: dict[str, tuple[set[str], list[str]]] = {}
    for entry, node in zip(entries, nodes, strict=True):
        if not node.changes:
            continue
        fields, records = given.setdefault(entry.datasheet or "audit", (set(), []))
        fields.update(c.field for c in node.changes)
        records.append(entry.record or f"audit:{entry.seq}")
    for datasheet, (fields, records) in given.items():
        ctx.access.read(datasheet, sorted(fields), sorted(set(records)))


def _record_clients_read(info: Info, users: list[str]) -> None:
    """A read of the users' IP addresses and user agents, if the page gives them: they are
    personal data of the user (the actor or principal) they were recorded for."""
    fields = selected_fields(info, ["ip", "userAgent"])
    if fields and users:
        ctx: RequestContext = info.context
        ctx.access.read("users", fields, sorted(set(users)))


def _access_node(e: AccessEvent) -> AccessEventType:
    client = dict(e.client or {})
    return AccessEventType(
        at=e.at,
        kind=e.kind,
        principal=strawberry.ID(e.principal),
        roles=list(e.roles),
        datasheet=e.datasheet,
        fields=list(e.fields),
        records=[strawberry.ID(r) for r in e.records],
        purpose=e.purpose,
        request_id=e.request_id,
        ip=client.get("ip"),
        user_agent=client.get("userAgent"),
    )


async def _access(
    info: Info,
    query: AccessQuery,
    first: int,
    after: str | None,
) -> AccessConnection:
    ctx = admin_context(info, "read the access log")
    if not 0 < first <= ctx.max_page_size:
        raise BadUserInputError(
            f"first must be between 1 and {ctx.max_page_size}", argument="first"
        )
    try:
        position = ObjectId(after) if after else None
    except InvalidId:
        raise BadUserInputError("malformed cursor", argument="after") from None
    events, more = await ctx.store.access_log.page(query, first=first, after=position)
    _record_clients_read(info, [e.principal for e in events if e.client])
    end = str(events[-1].id) if events else None
    return AccessConnection(
        nodes=[_access_node(e) for e in events],
        page_info=PageInfo(has_next_page=more, end_cursor=end),
    )


@strawberry.type
class AuditQueryRoot:
    @strawberry.field(description="Who was given personal data of this record, newest first.")
    async def record_access(
        self,
        info: Info,
        datasheet: str,
        id: strawberry.ID,
        first: int = 50,
        after: str | None = None,
    ) -> AccessConnection:
        query = AccessQuery(kind=("read", "export"), datasheet=datasheet, record=str(id))
        return await _access(info, query, first, after)

    @strawberry.field(description="Which records a principal was given between two times.")
    async def principal_access(
        self,
        info: Info,
        principal: strawberry.ID,
        since: dt.datetime,
        until: dt.datetime,
        first: int = 50,
        after: str | None = None,
    ) -> AccessConnection:
        query = AccessQuery(
            kind=("read", "export"),
            principal=str(principal),
            since=_utc(since, "since"),
            until=_utc(until, "until"),
        )
        return await _access(info, query, first, after)

    @strawberry.field(description="Sign-ins, newest first; of one user if given.")
    async def login_history(
        self,
        info: Info,
        user_id: strawberry.ID | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> AccessConnection:
        query = AccessQuery(kind="login", principal=str(user_id) if user_id else None)
        return await _access(info, query, first, after)

    @strawberry.field(
        description="Audit entries, newest first. Non-admins must name a datasheet whose "
        "rows their role covers in full, and see values only of fields they may read."
    )
    async def audit_log(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        filter: AuditFilter | None = None,
    ) -> AuditConnection:
        ctx: RequestContext = info.context
        if not 0 < first <= ctx.max_page_size:
            raise BadUserInputError(
                f"first must be between 1 and {ctx.max_page_size}", argument="first"
            )
        f = filter or AuditFilter()
        readable: frozenset[str] | None = None
        if not ctx.policy.admin:
            sheet = f.datasheet if f.datasheet in DATASHEETS else None
            grant = ctx.policy.sheet(sheet) if sheet is not None else None
            if grant is None or grant.rows is not None:
                raise ForbiddenError(
                    "you may read the audit log only of a datasheet whose rows you may all read",
                    argument="filter.datasheet",
                )
            # Values only of fields some role reads in full on every row: an entry's values
            # may come from any row, before or after the change.
            readable = frozenset().union(*(g.read for g in grant.grants if g.rows is None))
        query = AuditQuery(
            actor=f.actor,
            datasheet=f.datasheet,
            record=f.record,
            operation=f.operation,
            outcome=f.outcome,
            since=_utc(f.since, "filter.since"),
            until=_utc(f.until, "filter.until"),
        )
        entries, more = await ctx.store.audit.page(
            query, first=first, after=_seq(after) if after else None, with_values=True
        )
        nodes = [_node(e, readable, ctx.policy.admin) for e in entries]
        if selected_fields(info, ["before", "after"]):
            _record_values_read(ctx, entries, nodes)
        if ctx.policy.admin:  # only admins are given the client
            _record_clients_read(info, [str(e.actor.get("id")) for e in entries if e.client])
        end = _cursor(entries[-1].seq) if entries else None
        return AuditConnection(nodes=nodes, page_info=PageInfo(has_next_page=more, end_cursor=end))
