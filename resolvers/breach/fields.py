"""The GraphQL fields of a breach's impact and notification (admins only: ADMIN_FIELDS):
``breachImpact``, ``breachNotificationText`` and ``startBreachNotificationExport``.

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import datetime as dt

import strawberry
from strawberry.types import Info
from ulid import ULID

from resolvers.authz.guards import admin_context
from resolvers.breach.impact import measure_impact, one_per_request
from resolvers.breach.notify import (
    NOTIFICATION,
    NOTIFICATION_COLUMNS,
    notification_of,
    notification_plans,
    notification_text,
)
from resolvers.breach.values import Impact
from resolvers.context import RequestContext
from resolvers.exports import job_url
from schema.breach import BreachImpactType, BreachSheetImpactType
from schema.errors import BadUserInputError, EnclaveError
from schema.exports import ExportFormat, ExportJobType
from schema.incidents import CompromisedInput, compromised_of, utc_time
from storage.values import ExportJob

__all__ = ["BreachMutation", "BreachQuery", "impact_type"]

_DOING = "measure and notify breaches"


def impact_type(impact: Impact) -> BreachImpactType:
    """The GraphQL value of *impact*."""
    return BreachImpactType(
        since=impact.since,
        until=impact.until,
        principals=[strawberry.ID(p) for p in impact.principals],
        data_subjects=impact.data_subjects,
        records=impact.records,
        exports_downloaded=impact.exports_downloaded,
        categories=list(impact.categories),
        sheets=[
            BreachSheetImpactType(
                datasheet=s.datasheet,
                fields=list(s.fields),
                categories=list(s.categories),
                records_read=s.records_read,
                records_exported=s.records_exported,
                records_changed=s.records_changed,
                records_deleted=s.records_deleted,
                records=[strawberry.ID(r) for r in s.records],
            )
            for s in impact.sheets
        ],
    )


def _window(since: dt.datetime, until: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    """The window as aware UTC times, *until* now if not given; ``BAD_USER_INPUT`` unless
    *since* is before *until*."""
    start = utc_time(since, "since")
    end = dt.datetime.now(dt.UTC) if until is None else utc_time(until, "until")
    if start >= end:
        raise BadUserInputError("since must be before until", argument="since")
    return start, end


async def _impact(
    ctx: RequestContext,
    compromised: list[CompromisedInput],
    since: dt.datetime,
    until: dt.datetime | None,
) -> Impact:
    start, end = _window(since, until)
    chosen = compromised_of(compromised)
    one_per_request(ctx, "breachImpact")
    return await measure_impact(ctx.store, chosen, start, end)


@strawberry.type
class BreachQuery:
    @strawberry.field(
        description="What the compromised principals or links received (read or exported), "
        "changed and deleted from `since` to `until` (default: now), measured from the access "
        "and audit logs: ids, fields, categories and exact counts."
    )
    async def breach_impact(
        self,
        info: Info,
        compromised: list[CompromisedInput],
        since: dt.datetime,
        until: dt.datetime | None = None,
    ) -> BreachImpactType:
        ctx = admin_context(info, _DOING)
        return impact_type(await _impact(ctx, compromised, since, until))

    @strawberry.field(
        description="The text to send to the people a breach concerns (Art. 34): the window "
        "and the kinds of data concerned, no value of any record."
    )
    async def breach_notification_text(
        self,
        info: Info,
        compromised: list[CompromisedInput],
        since: dt.datetime,
        until: dt.datetime | None = None,
    ) -> str:
        ctx = admin_context(info, _DOING)
        return notification_text(await _impact(ctx, compromised, since, until))


@strawberry.type
class BreachMutation:
    @strawberry.mutation(
        description="Start an export of the people a breach concerns, with the email "
        "addresses their records hold: a one-time, expiring download link like any export "
        "(your export permission and your roles' export grants apply)."
    )
    async def start_breach_notification_export(
        self,
        info: Info,
        compromised: list[CompromisedInput],
        since: dt.datetime,
        format: ExportFormat,
        until: dt.datetime | None = None,
    ) -> ExportJobType:
        ctx = admin_context(info, _DOING)
        if ctx.exports is None:
            raise EnclaveError("exports are not served here")
        chosen = compromised_of(compromised)
        start, end = _window(since, until)
        plans = notification_plans(ctx.policy, ctx.principal)  # refused before a link
        one_per_request(ctx, "startBreachNotificationExport")
        impact = await measure_impact(ctx.store, chosen, start, end)
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        job = ExportJob(
            id=str(ULID()),
            principal_kind=ctx.principal.kind,
            principal_id=ctx.principal.user_id,
            datasheet=NOTIFICATION,
            format=format.value,
            fields=NOTIFICATION_COLUMNS[2:],
            equals={},
            include_archived=True,
            after=None,
            created_at=now,
            expires_at=now + dt.timedelta(seconds=ctx.exports.ttl_seconds),
            session=ctx.principal.session,
            notification=notification_of(chosen, start, end),
        )
        await ctx.store.exports.create(job, ctx.actor)
        url = job_url(ctx, job)
        return ExportJobType(
            id=strawberry.ID(job.id),
            datasheet=NOTIFICATION,
            format=format,
            columns=list(NOTIFICATION_COLUMNS),
            total=sum(len(s.records) for s in impact.sheets if s.datasheet in plans),
            url=url,
            expires_at=job.expires_at,
        )
