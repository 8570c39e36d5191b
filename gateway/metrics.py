"""Prometheus metrics of one gateway process, in a registry of its own.

Labels are bounded and hold no tenant data: ``operation`` is made only of schema names
(``query:employees``, see :mod:`resolvers.telemetry`), ``region`` is ``eu``/``us`` (or
``none`` before the caller is known), ``code`` an error code of ``schema.errors`` or
``http_<status>``. No tenant id, user id, address or value is ever a label.

- ``enclave_requests_total{operation,region,outcome}``, ``enclave_request_errors_total
  {operation,region,code}``, ``enclave_request_duration_seconds{operation,region}`` and
  ``enclave_requests_in_flight``;
- ``enclave_mongo_pool_connections{region,state}`` (``open``, ``in_use``, ``waiting``) and
  ``enclave_mongo_pool_max_size{region}``, from PyMongo's pool events, and
  ``enclave_mongo_commands_total{region,outcome}`` from its command events;
- ``enclave_audit_pending_intents{region}``: intents without an outcome after the last
  reconciler pass (writes in flight, or ones a crash left that are not yet past their
  lease), and ``enclave_audit_reconciled_total{region}``: intents the reconciler settled;
- ``enclave_audit_tampered_total{region}``: sealer passes that found a tenant's audit log
  changed outside the gateway and refused to seal it (an alert: see the error log).
- ``enclave_background_sweep_missed_total{loop}``: tenants the full sweep of the reconciler
  or sealer (every ``background_sweep_every_passes`` passes) found with work but no
  pending-work mark: marks lost outside the gateway. Should stay 0.
- ``enclave_crypto{implementation}``: 1 for the crypto libmongocrypt runs on (``native``:
  OpenSSL hooks, ``stock``: pymongocrypt's Python callbacks), 0 for the other.
- ``enclave_data_integrity_errors_total{region}``: replies refused because they held a value
  encrypted under another key than the reading tenant's (``DATA_INTEGRITY``).
- ``enclave_background_failures_total{loop,error}``: failed steps of a background loop
  (``reconcile``, ``seal``, ``purge``, ``prune``, ``access_log``, ``detect``,
  ``webhook``) by exception type; each is
  also logged (:meth:`GatewayMetrics.background_step`), and the loop goes on.
- ``enclave_detection_alerts_total{rule}``: suspected incidents the detection rules opened
  (``reads``, ``exports``, ``probing``, ``signins``), and
  ``enclave_detection_webhook_deliveries_total{outcome}``: their webhook's attempts.
- ``enclave_access_events_dropped_total``: access events the bounded buffer dropped while
  storage could not take them (:class:`gateway.accesslog.AccessRecorder`), read at scrape.
- ``enclave_cache_entries{cache}`` and ``enclave_cache_max_entries{cache}``: the entries of
  each per-process cache and its bound (``Settings.tenant_cache_size`` for those kept per
  tenant), read at scrape; ``cache`` is one of a fixed set of names (``tenants``,
  ``policies``, ``data_key_ids_eu``...), never a tenant's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from cachetools import Cache
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from pymongo import monitoring

from schema.errors import EnclaveError

__all__ = ["GatewayMetrics", "PoolMetrics"]

log = logging.getLogger("enclave.background")

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "enclave_requests",
            "GraphQL requests by operation, region and outcome (ok or error).",
            ["operation", "region", "outcome"],
            registry=r,
        )
        self.errors = Counter(
            "enclave_request_errors",
            "Errors returned, by operation, region and error code.",
            ["operation", "region", "code"],
            registry=r,
        )
        self.latency = Histogram(
            "enclave_request_duration_seconds",
            "Time from the request's arrival to the end of its response.",
            ["operation", "region"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "enclave_requests_in_flight", "Requests being served now.", registry=r
        )
        self.pool = Gauge(
            "enclave_mongo_pool_connections",
            "Connections to a region's servers: open, in use, or waited for.",
            ["region", "state"],
            registry=r,
        )
        self.pool_max = Gauge(
            "enclave_mongo_pool_max_size",
            "Largest pool per server and client.",
            ["region"],
            registry=r,
        )
        self.commands = Counter(
            "enclave_mongo_commands",
            "Database commands by region and outcome (ok or failed).",
            ["region", "outcome"],
            registry=r,
        )
        self.audit_pending = Gauge(
            "enclave_audit_pending_intents",
            "Audit intents without an outcome after the last reconciler pass.",
            ["region"],
            registry=r,
        )
        self.audit_reconciled = Counter(
            "enclave_audit_reconciled",
            "Audit intents the reconciler settled (a writer did not finish them).",
            ["region"],
            registry=r,
        )
        self.sweep_missed = Counter(
            "enclave_background_sweep_missed",
            "Tenants a full sweep of a background loop found with work but not marked as "
            "having any (should stay 0).",
            ["loop"],
            registry=r,
        )
        self.audit_tampered = Counter(
            "enclave_audit_tampered",
            "Sealer passes that found an audit log changed outside the gateway (not sealed).",
            ["region"],
            registry=r,
        )
        self.integrity = Counter(
            "enclave_data_integrity_errors",
            "Replies refused undecrypted: a value under another key than the reading tenant's.",
            ["region"],
            registry=r,
        )
        self.documents_refused = Counter(
            "enclave_document_mac_refused",
            "Documents trusted for access (users, roles, keys, sessions...) refused because "
            "their MAC fails: written or changed outside the gateway.",
            ["kind"],
            registry=r,
        )
        self.detection_alerts = Counter(
            "enclave_detection_alerts",
            "Suspected incidents opened by a detection rule (gateway.detection), by rule.",
            ["rule"],
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "enclave_detection_webhook_deliveries",
            "Alert webhook attempts by outcome: delivered, retried, failed (gave up after "
            "the last attempt), rejected (a 4xx answer) or dropped (queue full).",
            ["outcome"],
            registry=r,
        )
        self.background_failures = Counter(
            "enclave_background_failures",
            "Failed steps of a background loop, by loop and exception type (see the log).",
            ["loop", "error"],
            registry=r,
        )
        self.crypto = Gauge(
            "enclave_crypto",
            "1 for the crypto libmongocrypt runs on: native (OpenSSL) or stock (Python).",
            ["implementation"],
            registry=r,
        )

    def crypto_in_use(self, native: bool) -> None:
        self.crypto.labels("native").set(1.0 if native else 0.0)
        self.crypto.labels("stock").set(0.0 if native else 1.0)

    def integrity_refused(self, region: str) -> None:
        self.integrity.labels(region).inc()

    def document_refused(self, kind: str) -> None:
        self.documents_refused.labels(kind).inc()

    def access_events_dropped(self, read: Callable[[], int]) -> None:
        """Export ``enclave_access_events_dropped_total``, calling *read* at each scrape."""
        self.registry.register(_ReadAtScrape(read))

    def caches(self, read: Callable[[], Mapping[str, Cache[Any, Any]]]) -> None:
        """Export the size and bound of each cache *read* names, calling it at each scrape."""
        self.registry.register(_CacheSizes(read))

    @contextlib.contextmanager
    def background_step(
        self, loop: str, *, region: str | None = None, tenant_id: str | None = None
    ) -> Iterator[None]:
        """Run one step of a background loop: a failure is logged and counted, and the loop
        goes on. The log names the exception's type (an ``EnclaveError``'s code, another's
        innermost frame), the loop, and the region or tenant id when known; never the
        exception's message, which may quote a stored value."""
        try:
            yield
        except Exception as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # A driver may turn the cancellation of a shutdown into its own error (a
                # closed connection): the loop must stop, not count it and go round again.
                raise asyncio.CancelledError from exc
            name = type(exc).__name__
            self.background_failures.labels(loop, name).inc()
            where = f" in region {region}" if region else ""
            where += f" for tenant {tenant_id}" if tenant_id else ""
            if isinstance(exc, EnclaveError):
                # Expected while a region or Redis is down: not a bug.
                log.warning("background %s failed%s: %s (%s)", loop, where, name, exc.code)
            else:
                frames = traceback.extract_tb(exc.__traceback__)
                at = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
                log.error("background %s failed%s: %s at %s", loop, where, name, at)

    def observe(self, operation: str, region: str, seconds: float, codes: list[str]) -> None:
        self.requests.labels(operation, region, "error" if codes else "ok").inc()
        for code in codes:
            self.errors.labels(operation, region, code).inc()
        self.latency.labels(operation, region).observe(seconds)

    def listeners(self, region: str) -> list[monitoring._EventListener]:
        """PyMongo event listeners for one region's clients."""
        return [PoolMetrics(self, region), CommandMetrics(self, region)]

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _ReadAtScrape(Collector):
    def __init__(self, read: Callable[[], int]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "enclave_access_events_dropped",
            "Access events dropped, oldest first, while storage could not take them.",
            value=self._read(),
        )


class _CacheSizes(Collector):
    def __init__(self, read: Callable[[], Mapping[str, Cache[Any, Any]]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        entries = GaugeMetricFamily(
            "enclave_cache_entries", "Entries of a per-process cache.", labels=["cache"]
        )
        bound = GaugeMetricFamily(
            "enclave_cache_max_entries",
            "The most entries a per-process cache holds (least recently used forgotten first).",
            labels=["cache"],
        )
        for name, cache in sorted(self._read().items()):
            entries.add_metric([name], len(cache))
            bound.add_metric([name], cache.maxsize)
        yield entries
        yield bound


class PoolMetrics(monitoring.ConnectionPoolListener):
    """Connection pool gauges of one region, from PyMongo's CMAP events."""

    def __init__(self, metrics: GatewayMetrics, region: str) -> None:
        self._open = metrics.pool.labels(region, "open")
        self._in_use = metrics.pool.labels(region, "in_use")
        self._waiting = metrics.pool.labels(region, "waiting")
        self._max = metrics.pool_max.labels(region)

    def pool_created(self, event: monitoring.PoolCreatedEvent) -> None:
        self._max.set(float(event.options.get("maxPoolSize", 100)))

    def pool_ready(self, event: monitoring.PoolReadyEvent) -> None:
        pass

    def pool_cleared(self, event: monitoring.PoolClearedEvent) -> None:
        pass

    def pool_closed(self, event: monitoring.PoolClosedEvent) -> None:
        pass

    def connection_created(self, event: monitoring.ConnectionCreatedEvent) -> None:
        self._open.inc()

    def connection_ready(self, event: monitoring.ConnectionReadyEvent) -> None:
        pass

    def connection_closed(self, event: monitoring.ConnectionClosedEvent) -> None:
        self._open.dec()

    def connection_check_out_started(
        self, event: monitoring.ConnectionCheckOutStartedEvent
    ) -> None:
        self._waiting.inc()

    def connection_check_out_failed(self, event: monitoring.ConnectionCheckOutFailedEvent) -> None:
        self._waiting.dec()

    def connection_checked_out(self, event: monitoring.ConnectionCheckedOutEvent) -> None:
        self._waiting.dec()
        self._in_use.inc()

    def connection_checked_in(self, event: monitoring.ConnectionCheckedInEvent) -> None:
        self._in_use.dec()


class CommandMetrics(monitoring.CommandListener):
    def __init__(self, metrics: GatewayMetrics, region: str) -> None:
        self._ok = metrics.commands.labels(region, "ok")
        self._failed = metrics.commands.labels(region, "failed")

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._ok.inc()

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._failed.inc()
