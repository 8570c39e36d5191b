"""Detection passes: the recently active tenants, their rules, and the incidents they open.

Which tenants a pass visits: the access recorder marks each tenant whose events it wrote,
and a refused sign-in marks its tenant (:meth:`Detector.mark`), in one Redis sorted set
shared by every gateway, scored by the time of the first mark since the tenant was last
visited. A pass pops the oldest *tenants_per_pass* marks (so two gateways never visit one
mark twice, and a busy tenant cannot starve the others); a tenant whose visit failed is put
back. A tenant with no activity since its last visit is never read: the work of a pass is
bounded by the active tenants, not by all tenants of the region.

A visit reads at most *max_events* access events of the last hour, the baseline hours of the
principals who read more than the floor of their threshold (by principal, at most
*max_events* each) and the failed sign-ins of the last hour, evaluates the rules
(:mod:`gateway.detection.rules`) and opens a suspected incident per alert through
``incidents.open_suspected``, which opens none while one of the same rule about the same
principal is open; each one opened is counted and sent to the webhook.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Iterable
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.detection.rules import HOUR, Alert, HourCounts, alerts, hourly_mean, signin_alert
from gateway.detection.webhook import Webhook, parse_secret
from gateway.metrics import GatewayMetrics
from gateway.settings import Settings
from storage.base import Store
from storage.incidentvalues import Compromised, CompromisedKind
from storage.values import AccessQuery

__all__ = ["ACTIVE", "Detector"]

log = logging.getLogger("enclave.detection")
#: The Redis sorted set of tenants with activity since their last visit.
ACTIVE = "enclave:detection:active"
#: At most this many marks wait in a process while Redis cannot take them.
_MAX_UNSENT = 10_000
#: At most this many principals' baselines are read in one visit; any others are judged by
#: the floor of the threshold alone (more alerts, never fewer).
_MAX_BASELINES = 20


class Detector:
    def __init__(
        self,
        store: Store,
        redis: aioredis.Redis,
        metrics: GatewayMetrics,
        *,
        tenants_per_pass: int = 200,
        max_events: int = 50_000,
        webhook: Webhook | None = None,
        key: str = ACTIVE,
    ) -> None:
        self._store = store
        #: The Redis sorted set of the marks (one per deployment; tests use their own).
        self.key = key
        self._redis = redis
        self._metrics = metrics
        self._per_pass = tenants_per_pass
        self._max_events = max_events
        self.webhook = webhook
        self._unsent: set[str] = set()

    @classmethod
    def from_settings(
        cls, settings: Settings, store: Store, redis: aioredis.Redis, metrics: GatewayMetrics
    ) -> Detector:
        webhook = None
        if settings.detection_webhook_url is not None:
            assert settings.detection_webhook_secret is not None  # checked by Settings
            webhook = Webhook(
                settings.detection_webhook_url,
                parse_secret(settings.detection_webhook_secret.get_secret_value()),
                metrics,
                attempts=settings.detection_webhook_attempts,
                backoff_seconds=settings.detection_webhook_backoff_seconds,
            )
        return cls(
            store,
            redis,
            metrics,
            tenants_per_pass=settings.detection_tenants_per_pass,
            max_events=settings.detection_max_events,
            webhook=webhook,
        )

    async def mark(self, tenant_ids: Iterable[str]) -> None:
        """Mark *tenant_ids* as active (a mark kept since an earlier visit keeps its time);
        while Redis is unavailable the marks wait here, bounded, for the next call."""
        for tenant_id in tenant_ids:
            if len(self._unsent) < _MAX_UNSENT:
                self._unsent.add(tenant_id)
        if not self._unsent:
            return
        marks = dict.fromkeys(self._unsent, time.time())
        try:
            await self._redis.zadd(self.key, marks, nx=True)
        except (RedisError, OSError) as exc:
            log.warning("detection: %d marks wait for Redis (%s)", len(marks), type(exc).__name__)
            return
        self._unsent.difference_update(marks)

    async def run_pass(self, now: dt.datetime | None = None) -> list[tuple[str, Alert, str]]:
        """One pass: visit the oldest marked tenants; the incidents it opened, as (tenant id,
        alert, incident id)."""
        now = now or dt.datetime.now(dt.UTC)
        await self.mark(())
        popped = await self._redis.zpopmin(self.key, self._per_pass)
        claimed = cast("list[tuple[bytes | str, float]]", popped)
        opened: list[tuple[str, Alert, str]] = []
        for member, score in claimed:
            tenant_id = member.decode() if isinstance(member, bytes) else member
            visited = False
            with self._metrics.background_step("detect", tenant_id=tenant_id):
                opened += [(tenant_id, a, i) for a, i in await self.visit(tenant_id, now)]
                visited = True
            if not visited:  # again next pass
                with self._metrics.background_step("detect", tenant_id=tenant_id):
                    await self._redis.zadd(self.key, {tenant_id: score}, nx=True)
        return opened

    async def visit(self, tenant_id: str, now: dt.datetime) -> list[tuple[Alert, str]]:
        """Evaluate the rules of one tenant at *now*; the incidents opened."""
        info = await self._store.get_tenant(tenant_id)
        if info is None or info.status != "active":
            return []
        handle = self._store.for_tenant(tenant_id)
        limits = await handle.detection.thresholds()
        log_ = handle.access_log
        kinds = ("read", "export", "refused")
        last_hour = AccessQuery(kind=kinds, since=now - HOUR, until=now)
        counts = HourCounts.of((await log_.page(last_hour, first=self._max_events))[0], now)
        baselines: dict[str, float] = {}
        for principal in counts.heavy_readers(limits)[:_MAX_BASELINES]:
            before = AccessQuery(
                kind="read",
                principal=principal,  # by the (principal, at) index
                since=now - HOUR * (limits.baseline_hours + 1),
                until=now - HOUR,
            )
            past, _ = await log_.page(before, first=self._max_events)
            baselines[principal] = hourly_mean(past, now, limits.baseline_hours)
        found = alerts(counts, limits, baselines)
        accounts = await handle.detection.failed_signin_accounts(now - HOUR, limit=self._max_events)
        if (signins := signin_alert(accounts, limits, now)) is not None:
            found.append(signins)
        opened: list[tuple[Alert, str]] = []
        keys: set[str] | None = None
        for alert in found:
            # Failed sign-ins over many accounts concern the tenant's accounts at large.
            compromised: tuple[Compromised, ...] = (Compromised("platform"),)
            if alert.principal is not None:
                if keys is None:  # only when some rule fired: a tenant's keys are few
                    keys = {key.id for key in await handle.api_keys.all()}
                kind: CompromisedKind = "api_key" if alert.principal in keys else "user"
                compromised = (Compromised(kind, alert.principal),)
            incident = await handle.incidents.open_suspected(
                alert.rule, compromised, alert.since, alert.until, _summary(alert)
            )
            if incident is None:
                continue  # one is open already
            opened.append((alert, incident))
            self._alerted(tenant_id, alert, incident)
        return opened

    def _alerted(self, tenant_id: str, alert: Alert, incident: str) -> None:
        self._metrics.detection_alerts.labels(alert.rule).inc()
        log.warning(
            "detection: %s opened incident %s of tenant %s", alert.rule, incident, tenant_id
        )
        if self.webhook is not None:
            self.webhook.send(payload(tenant_id, alert, incident))

    async def run(self, interval_seconds: float) -> None:
        while True:
            await asyncio.sleep(interval_seconds)
            with self._metrics.background_step("detect"):
                await self.run_pass()

    def start(self, interval_seconds: float) -> list[asyncio.Task[None]]:
        """The background tasks: passes every *interval_seconds* (none for 0) and the
        webhook's deliveries."""
        if interval_seconds <= 0:
            return []
        tasks = [asyncio.create_task(self.run(interval_seconds))]
        if self.webhook is not None:
            tasks.append(asyncio.create_task(self.webhook.run()))
        return tasks

    async def aclose(self) -> None:
        if self.webhook is not None:
            await self.webhook.aclose()


_WHAT = {
    "reads": "distinct records read",
    "exports": "records exported",
    "probing": "requests refused (FORBIDDEN or NOT_FOUND)",
    "signins": "accounts with failed sign-ins",
}


def _summary(alert: Alert) -> str:
    """What the rule saw, in counts (no id, no value)."""
    text = f"Detection rule {alert.rule}: {alert.observed} {_WHAT[alert.rule]} in one hour"
    text += f" (threshold {alert.threshold}"
    if alert.baseline is not None:
        text += f", usual {alert.baseline:.1f} per hour"
    return text + ")."


def payload(tenant_id: str, alert: Alert, incident: str) -> dict[str, Any]:
    """The webhook's body: ids and counts only (never values, tokens or addresses)."""
    counts: dict[str, Any] = {"observed": alert.observed, "threshold": alert.threshold}
    if alert.baseline is not None:
        counts["baseline"] = round(alert.baseline, 3)
    return {
        "type": "enclave.detection.alert",
        "tenant": tenant_id,
        "rule": alert.rule,
        "incident": incident,
        "counts": counts,
        "window": {"since": alert.since.isoformat(), "until": alert.until.isoformat()},
    }
