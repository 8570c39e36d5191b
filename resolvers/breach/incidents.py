"""Breach incidents over GraphQL (admins only: ``ADMIN_FIELDS``): open, list, move through
the state machine, contain, report to the authority; and the tenant's contact point.

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import asyncio
import datetime as dt
import re

import strawberry
from strawberry.types import Info

from resolvers.authz.guards import admin_context
from resolvers.breach.clock import report_type
from resolvers.breach.containment import contain
from resolvers.breach.impact import measure_incident, one_per_request
from resolvers.breach.incidenttype import IncidentConnection, IncidentType, incident_type
from resolvers.breach.report import build_report, is_late
from resolvers.context import RequestContext
from schema.errors import BadUserInputError, NotFoundError
from schema.incidents import compromised_of, utc_time
from schema.incidenttypes import (
    AuthorityReportType,
    IncidentReportInput,
    IncidentStateEnum,
    OpenIncidentInput,
    TenantContactInput,
    TenantContactType,
)
from schema.types import PageInfo
from storage.base import TenantStore
from storage.incidentvalues import Compromised, Incident, TenantContact
from storage.values import AccessQuery

__all__ = ["IncidentMutation", "IncidentQuery"]

_ID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
_MAX_TEXT = 10_000
_CHANGE = (
    "Move an incident on: suspected, confirmed, reported, closed; suspected or confirmed "
    "ones may be dismissed."
)
_CONTAIN = (
    "Block the compromised principals (every token issued until now refused, an identity "
    "provider's included, and their downloads under way stopped), end their sessions, revoke "
    "their keys and unused export links, require new passwords, on every gateway at once."
)


def _admin(info: Info) -> RequestContext:
    return admin_context(info, "manage breach incidents")


def _text(value: str | None, field: str) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value) > _MAX_TEXT:
        raise BadUserInputError(f"at most {_MAX_TEXT} characters", field=field)
    return value.strip()


async def _user_known(ctx: RequestContext, user_id: str) -> bool:
    """A user of the tenant; or, since a token of an identity provider names a subject the
    tenant need not have a record of, any printable subject while the gateway accepts such
    tokens (one not seen yet may hold a stolen token), or one seen in the access log."""
    if await ctx.store.users.get(user_id) is not None:
        return True
    if ctx.accepts_external and user_id.isprintable() and not user_id.isspace():
        return True
    seen, _ = await ctx.store.access_log.page(AccessQuery(principal=user_id), first=1)
    return bool(seen)


async def _known(ctx: RequestContext, compromised: tuple[Compromised, ...]) -> None:
    """``NOT_FOUND`` for a user, key or export link this tenant does not have (another
    tenant's id included: its database is never looked at)."""
    store = ctx.store
    keys: set[str] | None = None
    for c in compromised:
        found = True
        if c.kind == "user" and c.id is not None:
            found = await _user_known(ctx, c.id)
        elif c.kind == "api_key":
            if keys is None:
                keys = {k.id for k in await store.api_keys.all()}
            found = c.id in keys
        elif c.kind == "export_link" and c.id is not None:
            found = await store.exports.get(c.id) is not None
        if not found:
            raise NotFoundError(f"no {c.kind.replace('_', ' ')} with this id", id=c.id)


async def _incident(store: TenantStore, incident_id: str) -> Incident:
    found = await store.incidents.get(incident_id) if _ID.fullmatch(incident_id) else None
    if found is None:
        raise NotFoundError("no incident with this id", id=incident_id)
    return found


@strawberry.type
class IncidentQuery:
    @strawberry.field(description="The tenant's breach incidents, newest first.")
    async def incidents(
        self,
        info: Info,
        state: IncidentStateEnum | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> IncidentConnection:
        ctx = _admin(info)
        size = ctx.default_page_size if first is None else first
        if not 1 <= size <= ctx.max_page_size:
            raise BadUserInputError(f"first must be 1 to {ctx.max_page_size}", argument="first")
        if after is not None and not _ID.fullmatch(after):
            raise BadUserInputError("malformed cursor", argument="after")
        found, more = await ctx.store.incidents.page(
            None if state is None else state.value, first=size, after=after
        )
        now = dt.datetime.now(dt.UTC)
        return IncidentConnection(
            nodes=[incident_type(i, now) for i in found],
            page_info=PageInfo(has_next_page=more, end_cursor=found[-1].id if found else None),
        )

    @strawberry.field(description="One breach incident; null if there is none with this id.")
    async def incident(self, info: Info, id: strawberry.ID) -> IncidentType | None:
        ctx = _admin(info)
        if not _ID.fullmatch(str(id)):
            return None
        found = await ctx.store.incidents.get(str(id))
        return None if found is None else incident_type(found)

    @strawberry.field(description="The tenant's contact point for the supervisory authority.")
    async def tenant_contact(self, info: Info) -> TenantContactType | None:
        found = await _admin(info).store.incidents.contact()
        return None if found is None else _contact(found)


def _contact(c: TenantContact) -> TenantContactType:
    return TenantContactType(name=c.name, email=c.email, phone=c.phone)


@strawberry.type
class IncidentMutation:
    @strawberry.mutation(description="Open a confirmed incident; detectedAt starts its clock.")
    async def open_incident(self, info: Info, input: OpenIncidentInput) -> IncidentType:
        ctx = _admin(info)
        compromised = compromised_of(input.compromised)
        if any(c.kind == "platform" for c in compromised):
            raise BadUserInputError("platform incidents are opened by operators", field="kind")
        now = dt.datetime.now(dt.UTC)
        start = utc_time(input.window_start, "windowStart")
        end = None if input.window_end is None else utc_time(input.window_end, "windowEnd")
        detected = None if input.detected_at is None else utc_time(input.detected_at, "detectedAt")
        if detected is not None and detected > now + dt.timedelta(minutes=5):
            raise BadUserInputError("detectedAt is in the future", field="detectedAt")
        await _known(ctx, compromised)
        made = await ctx.store.incidents.open(
            compromised,
            start,
            end,
            ctx.actor,
            origin="admin",
            nature=_text(input.nature, "nature"),
            detected_at=detected,
        )
        return incident_type(made)

    @strawberry.mutation(description=_CHANGE)
    async def change_incident_state(
        self,
        info: Info,
        id: strawberry.ID,
        state: IncidentStateEnum,
        expected_version: int,
        note: str | None = None,
    ) -> IncidentType:
        ctx = _admin(info)
        await _incident(ctx.store, str(id))
        changed = await ctx.store.incidents.change_state(
            str(id), state.value, expected_version, ctx.actor, _text(note, "note")
        )
        return incident_type(changed)

    @strawberry.mutation(description=_CONTAIN)
    async def contain_incident(self, info: Info, id: strawberry.ID) -> IncidentType:
        ctx = _admin(info)
        incident = await _incident(ctx.store, str(id))
        return incident_type(await contain(ctx, incident))

    @strawberry.mutation(description="File the next version of the report to the authority.")
    async def file_incident_report(
        self, info: Info, id: strawberry.ID, input: IncidentReportInput
    ) -> AuthorityReportType:
        ctx = _admin(info)
        incident = await _incident(ctx.store, str(id))
        now = dt.datetime.now(dt.UTC)
        delay = _text(input.delay_reason, "delayReason")
        if is_late(incident, now) and delay is None:
            raise BadUserInputError(
                "a report after the 72-hour deadline needs the reason for the delay",
                field="delayReason",
            )
        one_per_request(ctx, "fileIncidentReport")
        impact, contact = await asyncio.gather(
            measure_incident(ctx.store, incident), ctx.store.incidents.contact()
        )
        document = build_report(
            incident,
            impact,
            contact,
            submitted_at=now,
            likely_consequences=_text(input.likely_consequences, "likelyConsequences"),
            measures=_text(input.measures, "measures"),
            delay_reason=delay,
        )
        filed = await ctx.store.incidents.add_report(incident.id, document, delay, ctx.actor)
        return report_type(filed.reports[-1])

    @strawberry.mutation(description="Set the contact point the authority's reports name.")
    async def set_tenant_contact(self, info: Info, input: TenantContactInput) -> TenantContactType:
        ctx = _admin(info)
        name = _text(input.name, "name") or ""
        email = (_text(input.email, "email") or "").lower()
        if len(name) > 200 or len(email) > 320:
            raise BadUserInputError("the contact's name or email is too long", field="name")
        contact = TenantContact(name, email, _text(input.phone, "phone"))
        return _contact(await ctx.store.incidents.set_contact(contact, ctx.actor))
