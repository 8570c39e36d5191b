"""``GET /exports/<tenant>/<job>?expires=…&sig=…``: an export job's one download.

Before anything is sent, and before the download is used up: the signature must match the
job's tenant, id and principal (gateway.exporturls), the link must not have expired, the
tenant must be active, and the principal must still exist and still be allowed to export
this datasheet with these fields and filter, by their policy *now* (a user whose export
permission was turned off, or a revoked API key, is refused). Then the download is claimed
(once: a second is ``410 GONE``), audited, and the records stream straight from the
database through decryption to the client: nothing is buffered beyond one batch, nothing
is written to disk; it stops (the connection is cut) if the tenant stops being active, or
if a breach containment blocks the principal who started it (checked between chunks against
the cached policy: no read of its own).
When it ends (or the client goes away) the number of rows sent is audited, and each
chunk's records go into the access log as an export when the chunk is sent (not when the
export starts, nor when a chunk is read but never sent).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence

import anyio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from gateway.auth.actors import actor_for
from gateway.refusals import error_response
from gateway.services import Services
from resolvers.breach.notify import notification_chunks, notification_plans
from resolvers.context import Principal
from resolvers.exportstream import Given, export_chunks, export_plan
from resolvers.reports.download import report_download
from schema.datasheets import DATASHEETS
from schema.errors import (
    EnclaveError,
    ExportGoneError,
    ForbiddenError,
    NotFoundError,
    UnauthenticatedError,
)
from storage.base import TenantStore
from storage.values import AccessEvent, Actor, ExportJob

__all__ = ["ExportEndpoint"]

_MEDIA = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


class ExportEndpoint:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response: Response = await self._download(request)
        except EnclaveError as exc:
            response = error_response(exc)  # security headers: the middleware
        await response(scope, receive, send)

    async def _job(self, request: Request) -> tuple[TenantStore, ExportJob]:
        tenant_id = request.path_params["tenant"]
        job_id = request.path_params["job"]
        missing = NotFoundError("no such export")
        expires_text, sig = request.query_params.get("expires", ""), request.query_params.get("sig")
        # ASCII digits only: "²".isdigit() is true, and int() refuses it (and 5,000 digits).
        plausible = expires_text.isascii() and expires_text.isdigit() and len(expires_text) < 16
        if not plausible or not sig or len(job_id) != 26:
            raise missing
        try:
            store = self.services.store.for_tenant(tenant_id)
        except EnclaveError:
            raise missing from None
        urls = self.services.export_urls
        job = await store.exports.get(job_id)
        principal = None if job is None else f"{job.principal_kind}:{job.principal_id}"
        if job is None or not urls.verify(
            tenant_id, job_id, str(principal), int(expires_text), sig
        ):
            raise missing
        return store, job

    async def _principal(self, tenant_id: str, store: TenantStore, job: ExportJob) -> Principal:
        try:
            await self.services.tenants.require_active(tenant_id)
        except UnauthenticatedError:
            raise ForbiddenError("the tenant is not active") from None
        # A job started before its principal was blocked (containIncident) is refused.
        issued = int(job.created_at.timestamp())
        if job.principal_kind == "api_key":
            key = next((k for k in await store.api_keys.all() if k.id == job.principal_id), None)
            if key is None or key.revoked:
                raise ForbiddenError("the API key that started this export was revoked")
            return Principal(
                tenant_id,
                key.id,
                (key.role,),
                kind="api_key",
                key_can_export=key.can_export,
                issued_at=issued,
            )
        return Principal(tenant_id, job.principal_id, (), issued_at=issued)

    async def _download(self, request: Request) -> Response:
        store, job = await self._job(request)
        try:
            return await self._stream(request, store, job)
        except EnclaveError as exc:
            # A genuine link refused (permission, tenant, used, expired): audited as an attempt.
            actor = actor_for(request, job.principal_id, job.principal_kind)
            with contextlib.suppress(EnclaveError):  # the refusal stands either way
                await store.audit.record_attempt(
                    "exportDownload", actor, exc.code, datasheet=job.datasheet
                )
            raise

    async def _stream(self, request: Request, store: TenantStore, job: ExportJob) -> Response:
        tenant_id = store.tenant_id
        expires = int(request.query_params["expires"])
        if expires != int(job.expires_at.timestamp()) or time.time() > expires:
            raise ExportGoneError("this download link has expired; start a new export")
        principal = await self._principal(tenant_id, store, job)
        try:
            policy = await self.services.policies.policy_for(principal)
        except UnauthenticatedError:
            raise ForbiddenError(
                "the user who started this export no longer exists, or was contained"
            ) from None
        await self.services.limits.check(principal)
        request_id = request.headers.get("x-request-id", "")[:64] or None
        actor = actor_for(
            request, principal.user_id, principal.kind, policy.roles, request_id, job.session
        )
        if job.notification is not None:  # a breach notification list (resolvers.breach)
            plans = notification_plans(policy, principal)
            if not await store.exports.claim(job.id, actor):
                raise ExportGoneError("this export was downloaded already; start a new one")
            return await self._respond(
                store,
                job,
                actor,
                lambda sent: notification_chunks(store, job, plans, sent),
                "breach-notification",
            )
        sheet = DATASHEETS[job.datasheet]
        if job.report is not None:  # a report's CSV (resolvers.reports.download)
            table = await report_download(
                store,
                policy,
                job,
                actor,
                lambda event: self.services.access.add(tenant_id, event),
                self.services.export_urls.timeout_seconds,
            )
            if table is None:
                raise ExportGoneError("this report was downloaded already; ask for a new link")
            disposition = f'attachment; filename="{sheet.name}-report-{job.id}.csv"'
            return Response(
                table,
                media_type=_MEDIA["csv"],
                headers={"content-disposition": disposition},  # security headers: the middleware
            )
        # The caller's policy now, not when the job was started.
        plan = export_plan(policy, sheet, job.fields, job.equals, principal.user_id)
        if not await store.exports.claim(job.id, actor):
            raise ExportGoneError("this export was downloaded already; start a new one")
        fields = tuple(sorted(plan.fields))
        return await self._respond(
            store,
            job,
            actor,
            lambda sent: export_chunks(
                store,
                sheet,
                job,
                plan,
                lambda ids: sent(sheet.name, fields, ids),
                self.services.export_urls.timeout_seconds,
            ),
            sheet.name,
        )

    async def _respond(
        self,
        store: TenantStore,
        job: ExportJob,
        actor: Actor,
        stream: Callable[[Given], AsyncGenerator[bytes]],
        name: str,
    ) -> Response:
        """Stream a claimed download. Each chunk's records go into the access log as it is
        handed to the client (not when read from the database), so the log holds what was
        sent: a chunk read but never sent (the tenant stopped being active, an error) is
        not in it. The rows sent are audited when the stream ends."""
        tenant_id = store.tenant_id
        rows = 0
        produced: deque[tuple[str, tuple[str, ...], tuple[str, ...]]] = deque()

        def given(datasheet: str, fields: Sequence[str], ids: Sequence[str]) -> None:
            produced.append((datasheet, tuple(fields), tuple(ids)))

        def sending() -> None:
            nonlocal rows
            datasheet, fields, ids = produced.popleft()
            rows += len(ids)
            if not ids:  # a CSV header alone: no record given
                return
            self.services.access.add(
                tenant_id,
                AccessEvent(
                    at=dt.datetime.now(dt.UTC),
                    kind="export",
                    principal=actor.user_id,
                    roles=actor.roles,
                    datasheet=datasheet,
                    fields=fields,
                    records=ids,
                    detail={"job": job.id},
                    session=job.session,
                ),
            )

        chunks = stream(given)
        try:
            # The first chunk is read before the answer starts, so that a refusal of the
            # first batch (e.g. DATA_INTEGRITY) is an error response, not a cut stream.
            first = await anext(chunks, None)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await chunks.aclose()
                await store.exports.record_done(job, actor, rows, False)
            raise

        async def body() -> AsyncIterator[bytes]:
            complete = False
            try:
                pending = [first] if first is not None else []
                async for chunk in _chained(pending, chunks):
                    # A tenant suspended or terminated meanwhile gets nothing more (and a
                    # purge never sees this stream write to the database it dropped).
                    await self.services.tenants.require_active(tenant_id)
                    if await self.services.policies.blocked(
                        tenant_id, job.principal_kind, job.principal_id, job.created_at
                    ):
                        raise ForbiddenError("the principal of this export was contained")
                    sending()  # one chunk per call of given(), in order
                    yield chunk
                complete = True
            finally:
                # Also when the client went away and the response was cancelled.
                with anyio.CancelScope(shield=True):
                    await chunks.aclose()
                    await store.exports.record_done(job, actor, rows, complete)

        extension = "ndjson" if job.format == "ndjson" else "csv"
        return StreamingResponse(
            body(),
            media_type=_MEDIA[job.format],
            headers={
                "content-disposition": f'attachment; filename="{name}-{job.id}.{extension}"',
            },
        )


async def _chained(head: Sequence[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in head:
        yield chunk
    async for chunk in rest:
        yield chunk
