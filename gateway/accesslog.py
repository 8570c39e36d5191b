"""Recording who accessed personal data, off the request path.

Resolvers hand events to a ``RequestAccess`` (cheap: an append to a list); a background task
writes them per tenant in batches every ``flush_seconds``. A request never waits for the
access log, and the queue is bounded: if storage is unavailable for long, the oldest
events are dropped, logged as a count and counted in ``enclave_access_events_dropped_total``,
rather than memory growing without end.

Sign-ins: the first request with a given token is recorded as a login event, once per
token across all gateway processes (a Redis ``SET NX``; without Redis, once per process).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from collections import deque
from collections.abc import Sequence
from typing import Literal

import redis.asyncio as aioredis
from cachetools import LRUCache
from redis.exceptions import RedisError

from gateway.metrics import GatewayMetrics
from resolvers.context import Principal
from schema.errors import EnclaveError
from storage.base import Store
from storage.values import AccessEvent

__all__ = ["AccessRecorder", "RequestAccess"]

log = logging.getLogger("enclave.access")


class AccessRecorder:
    """Access events of every tenant, queued in arrival order and written per tenant.

    At most *max_queued* events wait; when full, the oldest is dropped (``dropped`` counts
    them). Why the oldest: the queue is shared by every tenant of every region, and fills
    only while some storage cannot take events, so its oldest events are that storage's
    backlog. Dropping the newest instead would silence the log of tenants whose region is
    healthy (their events leave within a flush) and lose everything read after the queue
    filled: the reads a breach response looks at last. Dropping the oldest keeps the healthy
    tenants' logs whole and the stalled ones' latest history; the gap is logged and counted.
    """

    def __init__(
        self,
        store: Store,
        redis: aioredis.Redis,
        *,
        enabled: bool = True,
        flush_seconds: float = 0.5,
        max_queued: int = 100_000,
    ) -> None:
        self._store = store
        self._redis = redis
        self.enabled = enabled
        self._flush_seconds = flush_seconds
        self._max_queued = max_queued
        self._queue: deque[tuple[str, AccessEvent]] = deque()
        self.dropped = 0
        self._dropped_logged = 0
        #: Tokens whose sign-in was recorded (a forgotten one is deduplicated in Redis).
        self.seen_tokens: LRUCache[str, bool] = LRUCache(100_000)

    def add(self, tenant_id: str, event: AccessEvent) -> None:
        if not self.enabled:
            return
        if len(self._queue) >= self._max_queued:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append((tenant_id, event))

    async def flush(self) -> int:
        queued, self._queue = self._queue, deque()
        batches: dict[str, list[AccessEvent]] = {}
        for tenant_id, event in queued:
            batches.setdefault(tenant_id, []).append(event)
        written = 0
        for tenant_id, events in batches.items():
            try:
                await self._store.for_tenant(tenant_id).access_log.append(events)
                written += len(events)
            except EnclaveError:
                if await self._gone(tenant_id):
                    continue  # purged (or being purged): its log went with its database
                self._put_back(tenant_id, events)
                log.warning("access log: %d events for %s deferred", len(events), tenant_id)
        if self.dropped > self._dropped_logged:
            log.warning("access log: %d events dropped", self.dropped - self._dropped_logged)
            self._dropped_logged = self.dropped
        return written

    def _put_back(self, tenant_id: str, events: list[AccessEvent]) -> None:
        """Events not written go back in front of those queued since: they are the oldest,
        and the first dropped if the queue is full."""
        room = max(self._max_queued - len(self._queue), 0)
        kept = events[len(events) - room :] if room < len(events) else events
        self.dropped += len(events) - len(kept)
        self._queue.extendleft((tenant_id, event) for event in reversed(kept))

    async def _gone(self, tenant_id: str) -> bool:
        try:
            info = await self._store.get_tenant(tenant_id)
        except EnclaveError:
            return False
        return info is None or info.status in ("purging", "purged")

    async def run(self, metrics: GatewayMetrics) -> None:
        try:
            while True:
                await asyncio.sleep(self._flush_seconds)
                with metrics.background_step("access_log"):
                    await self.flush()
        finally:
            with metrics.background_step("access_log"):
                await self.flush()

    async def login(
        self,
        principal: Principal,
        roles: tuple[str, ...],
        token: str,
        ip: str | None,
        user_agent: str | None,
    ) -> None:
        """Record a sign-in the first time a token is used."""
        if not self.enabled:
            return
        digest = hashlib.sha256(token.encode()).hexdigest()
        if digest in self.seen_tokens:
            return
        self.seen_tokens[digest] = True
        try:
            first = await self._redis.set(f"enclave:login:{digest}", 1, nx=True, ex=86_400)
        except (RedisError, OSError):
            first = True
        if not first:
            return
        self.add(
            principal.tenant_id,
            AccessEvent(
                at=dt.datetime.now(dt.UTC),
                kind="login",
                principal=principal.user_id,
                roles=roles,
                client={"ip": ip, "userAgent": user_agent},
                detail={"method": principal.kind},
                session=principal.session,
            ),
        )


class RequestAccess:
    """The access sink of one request: knows who is asking, and why."""

    def __init__(
        self,
        recorder: AccessRecorder,
        principal: Principal,
        roles: tuple[str, ...],
        purpose: str | None,
        request_id: str,
    ) -> None:
        self._recorder = recorder
        self._principal = principal
        self._roles = roles
        self._purpose = purpose
        self._request_id = request_id

    def read(self, datasheet: str, fields: Sequence[str], records: Sequence[str]) -> None:
        self._add("read", datasheet, fields, records)

    def export(self, datasheet: str, fields: Sequence[str], records: Sequence[str]) -> None:
        self._add("export", datasheet, fields, records)

    def report(self, datasheet: str, fields: Sequence[str], aggregated: int) -> None:
        """A report was run: which fields it grouped or measured and how many records it
        aggregated; no record ids (no record was shown), no values."""
        if not self._recorder.enabled:
            return
        self._recorder.add(
            self._principal.tenant_id,
            AccessEvent(
                at=dt.datetime.now(dt.UTC),
                kind="report",
                principal=self._principal.user_id,
                roles=self._roles,
                datasheet=datasheet,
                fields=tuple(fields),
                purpose=self._purpose,
                request_id=self._request_id,
                detail={"records": aggregated},
                session=self._principal.session,
            ),
        )

    def _add(
        self,
        kind: Literal["read", "export"],
        datasheet: str,
        fields: Sequence[str],
        records: Sequence[str],
    ) -> None:
        if not fields or not records or not self._recorder.enabled:
            return
        self._recorder.add(
            self._principal.tenant_id,
            AccessEvent(
                at=dt.datetime.now(dt.UTC),
                kind=kind,
                principal=self._principal.user_id,
                roles=self._roles,
                datasheet=datasheet,
                fields=tuple(fields),
                records=tuple(records),
                purpose=self._purpose,
                request_id=self._request_id,
                session=self._principal.session,
            ),
        )
