"""``startExport``: a bulk export job with a one-time, expiring, signed download URL.

Only callers whose export permission is on (``User.can_export``, ``ApiKey.can_export``) and
one of whose roles may export the datasheet may start one; what it will contain is
decided by the same read plan as the GraphQL API (resolvers.exportstream). Starting is
audited (the filter's values encrypted); a refused start is audited as an attempt.

Resuming: an export streams records in id order and each NDJSON line or CSV row starts
with the record's id, so after an interruption start a new export with ``afterId`` = the
last id received, and append.

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import datetime as dt
import re

import strawberry
from strawberry.types import Info
from ulid import ULID

from resolvers.context import RequestContext
from resolvers.exportstream import columns, export_plan
from resolvers.values import check_value
from schema.datasheets import DATASHEETS, Datasheet, FieldType
from schema.errors import BadUserInputError, EnclaveError
from schema.exports import ExportFilterInput, ExportFormat, ExportJobType
from storage.values import ExportJob, Value

__all__ = ["ExportMutation", "filter_value", "job_url"]

_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def filter_value(sheet: Datasheet, name: str, text: str) -> Value:
    """A filter's text as the field's value; ``BAD_USER_INPUT`` naming the field."""
    field = sheet.by_name.get(name)
    if field is None:
        raise BadUserInputError(f"{sheet.name} has no such field", field="filter")
    if not field.filterable:
        raise BadUserInputError(f"cannot filter {sheet.name} by {name}", field=name)
    try:
        if field.type is FieldType.INT:
            return check_value(field, int(text))
        if field.type is FieldType.DATE:
            return dt.date.fromisoformat(text)
    except ValueError:
        raise BadUserInputError(f"{name} must be a {field.type.value}", field=name) from None
    if field.type is FieldType.ENUM and text not in field.enum_values:
        raise BadUserInputError(f"{name} must be one of its enum values", field=name)
    return check_value(field, text)


def job_url(ctx: RequestContext, job: ExportJob) -> str:
    """The signed, expiring download link of *job*, started by the caller."""
    assert ctx.exports is not None
    principal = f"{ctx.principal.kind}:{ctx.principal.user_id}"
    return ctx.exports.url(
        ctx.principal.tenant_id, job.id, principal, int(job.expires_at.timestamp())
    )


@strawberry.type
class ExportMutation:
    @strawberry.mutation(
        description="Start an export of a datasheet (the fields your roles may export, or "
        "`fields`), as NDJSON or CSV, in id order after `afterId`."
    )
    async def start_export(
        self,
        info: Info,
        datasheet: str,
        format: ExportFormat,
        filter: list[ExportFilterInput] | None = None,
        fields: list[str] | None = None,
        include_archived: bool = False,
        after_id: strawberry.ID | None = None,
    ) -> ExportJobType:
        ctx: RequestContext = info.context
        sheet = DATASHEETS.get(datasheet)
        if sheet is None:
            raise BadUserInputError("no datasheet has that name", field="datasheet")
        if ctx.exports is None:
            raise EnclaveError("exports are not served here")
        equals: dict[str, Value] = {}
        for item in filter or ():
            if item.field in equals:  # a known field name by now: _value checked it
                raise BadUserInputError(f"{item.field} appears twice", field="filter")
            equals[item.field] = filter_value(sheet, item.field, item.value)
        if after_id is not None and not _ID.match(str(after_id)):
            raise BadUserInputError("afterId is not a record id", argument="afterId")
        caller = ctx.principal.user_id
        plan = export_plan(ctx.policy, sheet, fields, equals, caller)
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        job = ExportJob(
            id=str(ULID()),
            principal_kind=ctx.principal.kind,
            principal_id=caller,
            datasheet=sheet.name,
            format=format.value,
            fields=tuple(f.name for f in sheet.fields if f.name in plan.fields),
            equals=equals,
            include_archived=include_archived,
            after=None if after_id is None else str(after_id),
            created_at=now,
            expires_at=now + dt.timedelta(seconds=ctx.exports.ttl_seconds),
            session=ctx.principal.session,
        )
        total = await ctx.store.records.count(
            sheet,
            after=job.after,
            equals=equals,
            include_archived=include_archived,
            scope=plan.scope,
            read_deadline=ctx.exports.timeout_seconds,
        )
        await ctx.store.exports.create(job, ctx.actor)
        url = job_url(ctx, job)
        return ExportJobType(
            id=strawberry.ID(job.id),
            datasheet=sheet.name,
            format=format,
            columns=columns(sheet, plan),
            total=total,
            url=url,
            expires_at=job.expires_at,
        )
