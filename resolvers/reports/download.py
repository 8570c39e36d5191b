"""A report's one-time CSV download, behind the export links (gateway.endpoints.exports).

The link was made by ``reportCsv`` as an export job whose ``report`` holds the definition
(its filter in the job's encrypted ``equals``). At download the report is planned again
under the caller's policy *now* (a role that lost its report grant gets ``FORBIDDEN``),
the one download is claimed, and the report is run, suppressed and rendered.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from resolvers.authz.policy import Policy
from resolvers.reports.plan import Definition, plan_report
from resolvers.reports.run import report_csv, run_report
from storage.base import TenantStore
from storage.values import AccessEvent, Actor, ExportJob

__all__ = ["job_definition", "report_download"]


def job_definition(job: ExportJob) -> Definition:
    """The report definition a job was started with."""
    texts = [
        {"field": k, "value": v.isoformat() if isinstance(v, dt.date) else str(v)}
        for k, v in job.equals.items()
        if v is not None
    ]
    return Definition.from_dict({**(job.report or {}), "filter": texts})


class _Sink:
    def __init__(self, add: Callable[[AccessEvent], None], actor: Actor, job: ExportJob) -> None:
        self._add, self._actor, self._job = add, actor, job

    def report(self, datasheet: str, fields: Sequence[str], aggregated: int) -> None:
        self._add(
            AccessEvent(
                at=dt.datetime.now(dt.UTC),
                kind="report",
                principal=self._actor.user_id,
                roles=self._actor.roles,
                datasheet=datasheet,
                fields=tuple(fields),
                request_id=self._actor.request_id,
                detail={"records": aggregated, "job": self._job.id},
                session=self._actor.session,
            )
        )


async def report_download(
    store: TenantStore,
    policy: Policy,
    job: ExportJob,
    actor: Actor,
    add: Callable[[AccessEvent], None],
    read_deadline: float | None = None,
) -> bytes | None:
    """The report's CSV, or None if the download was used already. Raises ``FORBIDDEN``
    (before using it up) if the caller may no longer run this report."""
    d = job_definition(job)
    plan_report(policy, d, actor.user_id)
    if not await store.exports.claim(job.id, actor):
        return None
    sink = _Sink(add, actor, job)
    result = await run_report(store, policy, actor.user_id, d, sink, read_deadline)
    body = report_csv(d, result)
    await store.exports.record_done(job, actor, len(result.rows), True)
    return body
