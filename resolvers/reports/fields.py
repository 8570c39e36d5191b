"""GraphQL fields of reports: ``report``, ``reportCsv``, saved definitions, the tenant's k.

Who may use them is decided by resolvers.authz.policy (``REPORT_FIELDS``: callers with a
``report`` grant on some datasheet; ``setReportMinimumGroupSize``: admins) and, per
datasheet and field, by resolvers.reports.plan; what is shown, by resolvers.reports.rules.

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import datetime as dt
import re

import strawberry
from strawberry.types import Info
from ulid import ULID

from resolvers.authz.guards import admin_context
from resolvers.context import RequestContext
from resolvers.exports import job_url
from resolvers.reports.plan import Definition, key_names, labels, plan_report
from resolvers.reports.rules import Suppressed
from resolvers.reports.run import OTHER, run_report
from schema.errors import BadUserInputError, EnclaveError, NotFoundError
from schema.exports import ExportFilterInput
from schema.reports import (
    Report,
    ReportCsvLink,
    ReportDefinition,
    ReportDefinitionInput,
    ReportMeasure,
    ReportMeasureInput,
    ReportOther,
    ReportRow,
    TimeBucketInput,
)
from storage.values import ExportJob, SavedReport

__all__ = ["ReportMutation", "ReportQuery"]

_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
_MAX_K = 1000


def _definition(data: ReportDefinitionInput) -> Definition:
    bucket = data.time_bucket
    return Definition(
        datasheet=data.datasheet,
        group_by=tuple(data.group_by),
        measures=tuple((m.op.value, m.field) for m in data.measures),
        bucket=None if bucket is None else (bucket.field, bucket.unit.value),
        filter=tuple((f.field, f.value) for f in data.filter or ()),
        include_archived=data.include_archived,
    )


def _text(value: object) -> str | None:
    if value is None:
        return None
    iso = getattr(value, "isoformat", None)
    return str(iso()) if callable(iso) else str(value)


def _report(d: Definition, result: Suppressed) -> Report:
    return Report(
        key_names=key_names(d),
        measure_names=labels(d),
        rows=[
            ReportRow(
                keys=[_text(v) for v in r.keys],
                records=r.count,
                measures=[None if v is None else float(v) for v in r.measures],
                withheld=r.withheld,
            )
            for r in result.rows
        ],
        other=ReportOther(label=OTHER, groups=result.other_groups, records=result.other_records),
        total=result.total,
        minimum_group_size=result.k,
    )


def _saved(s: SavedReport) -> ReportDefinition:
    d = Definition.from_dict(s.definition)
    return ReportDefinition(
        id=strawberry.ID(s.id),
        name=s.name,
        version=s.version,
        datasheet=d.datasheet,
        group_by=list(d.group_by),
        time_bucket_field=d.bucket[0] if d.bucket else None,
        time_bucket_unit=d.bucket[1] if d.bucket else None,
        measures=[ReportMeasure(op=op, field=name) for op, name in d.measures],
        filter_fields=[f for f, _ in d.filter],
        updated_at=s.updated_at,
    )


def _may_run(ctx: RequestContext, s: SavedReport) -> bool:
    try:
        plan_report(ctx.policy, Definition.from_dict(s.definition), ctx.principal.user_id)
    except EnclaveError:
        return False
    return True


async def _run(ctx: RequestContext, d: Definition) -> Report:
    deadline = None if ctx.exports is None else ctx.exports.timeout_seconds
    result = await run_report(
        ctx.store, ctx.policy, ctx.principal.user_id, d, ctx.access, read_deadline=deadline
    )
    return _report(d, result)


def _name(name: str) -> str:
    name = name.strip()
    if not 0 < len(name) <= 200:
        raise BadUserInputError("a report name has 1 to 200 characters", field="name")
    return name


def _report_id(value: strawberry.ID) -> str:
    if not _ID.match(str(value)):
        raise BadUserInputError("not a report definition id", field="id")
    return str(value)


async def _saved_runnable(ctx: RequestContext, report_id: str) -> SavedReport:
    saved = await ctx.store.reports.get_definition(report_id)
    if saved is None or not _may_run(ctx, saved):
        raise NotFoundError("no such report definition", field="id")  # nor a hint it exists
    return saved


async def _put_definition(
    ctx: RequestContext,
    report_id: str | None,
    name: str,
    definition: ReportDefinitionInput,
    expected_version: int | None,
) -> ReportDefinition:
    """Save a definition the caller may run (a new one without *report_id*)."""
    d = _definition(definition)
    plan_report(ctx.policy, d, ctx.principal.user_id)
    saved = await ctx.store.reports.put_definition(
        report_id, _name(name), d.as_dict(), expected_version, ctx.actor
    )
    return _saved(saved)


@strawberry.type
class ReportQuery:
    @strawberry.field(
        description="Aggregates of a datasheet, one row per group; groups of fewer than the "
        "tenant's minimum group size are suppressed into `other`."
    )
    async def report(
        self,
        info: Info,
        datasheet: str,
        measures: list[ReportMeasureInput],
        group_by: list[str] | None = None,
        time_bucket: TimeBucketInput | None = None,
        filter: list[ExportFilterInput] | None = None,
        include_archived: bool = False,
    ) -> Report:
        data = ReportDefinitionInput(
            datasheet=datasheet,
            group_by=group_by or [],
            time_bucket=time_bucket,
            filter=filter,
            measures=measures,
            include_archived=include_archived,
        )
        return await _run(info.context, _definition(data))

    @strawberry.field(description="Saved report definitions you may run.")
    async def report_definitions(self, info: Info) -> list[ReportDefinition]:
        ctx: RequestContext = info.context
        saved = await ctx.store.reports.list_definitions()
        return [_saved(s) for s in saved if _may_run(ctx, s)]

    @strawberry.field(description="Run a saved report definition.")
    async def run_report_definition(self, info: Info, id: strawberry.ID) -> Report:
        ctx: RequestContext = info.context
        saved = await _saved_runnable(ctx, _report_id(id))
        return await _run(ctx, Definition.from_dict(saved.definition))


@strawberry.type
class ReportMutation:
    @strawberry.mutation(description="A one-time download link of a report as CSV.")
    async def report_csv(self, info: Info, definition: ReportDefinitionInput) -> ReportCsvLink:
        ctx: RequestContext = info.context
        if ctx.exports is None:
            raise EnclaveError("downloads are not served here")
        d = _definition(definition)
        planned = plan_report(ctx.policy, d, ctx.principal.user_id)  # refuse before a link
        caller = ctx.principal.user_id
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        shape = {k: v for k, v in d.as_dict().items() if k != "filter"}
        job = ExportJob(
            id=str(ULID()),
            principal_kind=ctx.principal.kind,
            principal_id=caller,
            datasheet=planned.sheet.name,
            format="csv",
            fields=tuple(d.fields),
            equals=planned.query.equals,
            include_archived=d.include_archived,
            after=None,
            created_at=now,
            expires_at=now + dt.timedelta(seconds=ctx.exports.ttl_seconds),
            report=shape,
            session=ctx.principal.session,
        )
        await ctx.store.exports.create(job, ctx.actor)
        url = job_url(ctx, job)
        return ReportCsvLink(id=strawberry.ID(job.id), url=url, expires_at=job.expires_at)

    @strawberry.mutation(description="Save a report definition (audited).")
    async def create_report_definition(
        self, info: Info, name: str, definition: ReportDefinitionInput
    ) -> ReportDefinition:
        return await _put_definition(info.context, None, name, definition, None)

    @strawberry.mutation(description="Change a saved report definition at its version.")
    async def update_report_definition(
        self,
        info: Info,
        id: strawberry.ID,
        expected_version: int,
        name: str,
        definition: ReportDefinitionInput,
    ) -> ReportDefinition:
        ctx: RequestContext = info.context
        report_id = _report_id(id)
        await _saved_runnable(ctx, report_id)
        return await _put_definition(ctx, report_id, name, definition, expected_version)

    @strawberry.mutation(description="Delete a saved report definition at its version.")
    async def delete_report_definition(
        self, info: Info, id: strawberry.ID, expected_version: int
    ) -> ReportDefinition:
        ctx: RequestContext = info.context
        report_id = _report_id(id)
        await _saved_runnable(ctx, report_id)
        saved = await ctx.store.reports.delete_definition(report_id, expected_version, ctx.actor)
        return _saved(saved)

    @strawberry.mutation(
        description="Set the tenant's minimum group size k of reports (admins; audited)."
    )
    async def set_report_minimum_group_size(self, info: Info, k: int) -> int:
        ctx = admin_context(info, "set the minimum group size")
        if not 2 <= k <= _MAX_K:
            raise BadUserInputError(f"k is between 2 and {_MAX_K}", field="k")
        await ctx.store.reports.set_minimum_group_size(k, ctx.actor)
        return k
