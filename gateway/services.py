"""The long-lived resources of one gateway process, built from settings and closed together."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from opentelemetry.sdk.trace.export import SpanExporter
from pymongo import monitoring
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.accesslog import AccessRecorder
from gateway.auditheads import KnownHeads
from gateway.auth.apikeys import ApiKeys
from gateway.auth.jwks import ExternalTokens
from gateway.auth.passwords import PasswordHashing
from gateway.auth.signin import SignIn
from gateway.auth.tenants import TenantCache
from gateway.auth.tokens import TokenIssuer
from gateway.cachesizes import named_caches
from gateway.detection import Detector
from gateway.exporturls import ExportUrls
from gateway.idempotency import IdempotencyStore, forget_tenant
from gateway.metrics import GatewayMetrics
from gateway.persisted import PersistedOperations
from gateway.ratelimit import RateLimiter
from gateway.settings import Settings
from gateway.tracing import Tracing
from regions import nativecrypto
from regions.countries import RegionName
from resolvers.authz.cache import AuthorizationCache
from resolvers.authz.policycache import PolicyCache
from schema.errors import AuditTamperedError
from storage.base import Store
from storage.contract.lifecycle import TenantLifecycle
from storage.open import open_store
from storage.signing import SealKey
from storage.values import OPERATOR

__all__ = ["Services"]

_STOP_SECONDS = 10.0
#: At most this many sealer batches for one tenant in one pass.
_SEAL_BATCHES = 100
log = logging.getLogger("enclave.gateway")
#: Tenants whose data is kept (locked out or not): their audit is settled and sealed.
KEPT = frozenset({"active", "suspended", "terminated"})


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _external(settings: Settings) -> ExternalTokens | None:
    if settings.jwt_jwks_file is None and settings.jwt_jwks_url is None:
        return None
    if not (settings.jwt_external_issuer and settings.jwt_external_audience):
        raise ValueError(
            "an external identity provider needs ENCLAVE_JWT_EXTERNAL_ISSUER and "
            "ENCLAVE_JWT_EXTERNAL_AUDIENCE"
        )
    return ExternalTokens(
        jwks_file=settings.jwt_jwks_file,
        jwks_url=settings.jwt_jwks_url,
        issuer=settings.jwt_external_issuer,
        audience=settings.jwt_external_audience,
        leeway=settings.jwt_leeway_seconds,
        tenant_claim=settings.jwt_tenant_claim,
        subject_claim=settings.jwt_subject_claim,
        roles_claim=settings.jwt_roles_claim,
    )


@dataclass(slots=True)
class Services:
    settings: Settings
    store: Store
    redis: aioredis.Redis
    tokens: TokenIssuer
    tenants: TenantCache
    policies: PolicyCache
    authorization: AuthorizationCache
    access: AccessRecorder
    limits: RateLimiter
    idempotency: IdempotencyStore
    external: ExternalTokens | None
    api_keys: ApiKeys
    signin: SignIn
    export_urls: ExportUrls
    metrics: GatewayMetrics
    operations: PersistedOperations
    heads: KnownHeads
    #: None when tracing is off (no ``otlp_endpoint``).
    tracing: Tracing | None = None
    detector: Detector = field(init=False)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, trace_exporter: SpanExporter | None = None
    ) -> Services:
        """*trace_exporter* replaces the OTLP exporter when tracing is on (tests)."""
        crypto = nativecrypto.install(settings.native_crypto)  # before any encrypted client
        metrics = GatewayMetrics()
        metrics.crypto_in_use(crypto.native)
        tracing = Tracing.from_settings(settings, trace_exporter)

        def listeners(region: str) -> list[monitoring._EventListener]:
            spans = tracing.listeners(region) if tracing is not None else []
            return [*metrics.listeners(region), *spans]

        store = open_store(
            settings.regions(),
            settings.audit_mac(),
            listeners=listeners,
            on_integrity_error=metrics.integrity_refused,
            on_document_refused=metrics.document_refused,
            cache_size=settings.tenant_cache_size,
        )
        tokens = TokenIssuer(
            settings.jwt_key(),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway=settings.jwt_leeway_seconds,
            ttl=settings.token_ttl_seconds,
        )
        redis = aioredis.Redis.from_url(
            settings.redis_url.get_secret_value(),
            socket_timeout=1.0,
            socket_connect_timeout=1.0,
            # A pooled connection may be dead after a Redis restart: retry on a fresh one.
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=3),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        size = settings.tenant_cache_size
        tenants = TenantCache(store, size=size)
        policies = PolicyCache(
            store,
            redis,
            recheck_seconds=settings.policy_recheck_seconds,
            also_forget=tenants.forget,
            size=size,
        )
        access = AccessRecorder(store, redis, enabled=settings.access_log)
        metrics.access_events_dropped(lambda: access.dropped)
        limits = RateLimiter(
            redis,
            per_principal=settings.rate_limit_per_principal,
            per_tenant=settings.rate_limit_per_tenant,
            window_seconds=settings.rate_limit_window_seconds,
            signin_per_address=settings.signin_rate_limit_per_address,
            signin_per_tenant=settings.signin_rate_limit_per_tenant,
        )
        services = cls(
            settings,
            store,
            redis,
            tokens,
            tenants,
            policies,
            AuthorizationCache(),
            access,
            limits,
            IdempotencyStore(redis, settings.idempotency_ttl_seconds),
            _external(settings),
            ApiKeys(store, size),
            SignIn(
                store,
                tokens,
                PasswordHashing(settings.password_hash_threads, settings.password_hash_queue),
                sessionless=settings.sessionless_tokens,
            ),
            ExportUrls(
                settings.jwt_key(), settings.export_url_ttl_seconds, settings.export_timeout_seconds
            ),
            metrics,
            PersistedOperations(
                store,
                recheck_seconds=settings.policy_recheck_seconds,
                max_tokens=settings.max_tokens,
                tenants=size,
            ),
            KnownHeads(redis, size),
            tracing,
        )
        services.detector = Detector.from_settings(settings, store, redis, metrics)
        access.on_written = services.detector.mark
        metrics.caches(functools.partial(named_caches, services))
        return services

    async def prefetch(self, tenant_id: str) -> None:
        """What a tenant's request needs after authentication (its roles and policy
        version, its allow-list mode), fetched concurrently into their caches."""
        await asyncio.gather(
            self.policies.prefetch(tenant_id),
            self.operations.allow_list(tenant_id),
        )

    def lifecycle(self) -> TenantLifecycle:
        return self.store.lifecycle(forget=functools.partial(forget_tenant, self.redis))

    async def reconcile_all(self, *, sweep: bool = False) -> int:
        """Settle pending audit intents of every tenant marked as having some, in each region
        that answers; with *sweep*, of every tenant with data too (the safety net: a tenant
        found with work but no mark is counted in ``enclave_background_sweep_missed_total``)."""
        settled = 0
        for region, tenants, marked in await self._to_visit("reconcile", sweep):
            pending = in_region = 0
            for tenant_id in tenants:
                with self.metrics.background_step("reconcile", tenant_id=tenant_id):
                    store = self.store.for_tenant(tenant_id)
                    started = _now()
                    if tenant_id not in marked and await store.audit.pending_intents():
                        await self._missed("reconcile", region, tenant_id)
                    # Intents whose writer's lease has ended: the writer will not apply them.
                    in_region += await store.audit.reconcile(older_than=dt.timedelta(0))
                    left = await store.audit.pending_intents()
                    pending += left
                    if left == 0:
                        await self.store.clear_pending(tenant_id, "reconcile", started)
            self.metrics.audit_reconciled.labels(region).inc(in_region)
            self.metrics.audit_pending.labels(region).set(pending)
            settled += in_region
        return settled

    async def _reconcile_forever(self) -> None:
        passes = 0
        while True:
            with self.metrics.background_step("reconcile"):
                if settled := await self.reconcile_all(sweep=self._sweeps(passes)):
                    log.info("reconciled %d pending audit intents", settled)
            passes += 1
            await asyncio.sleep(self.settings.reconcile_interval_seconds)

    def _sweeps(self, passes: int) -> bool:
        """Whether pass number *passes* (from 0: the first pass after start-up) is a sweep."""
        return passes % self.settings.background_sweep_every_passes == 0

    async def seal_all(self, *, sweep: bool = False) -> int:
        """Seal new audit entries of every tenant marked as having some, in each region that
        answers; with *sweep*, of every tenant with data too (see :meth:`reconcile_all`)."""
        key = self.settings.seal_key()
        sealed = 0
        for region, tenants, marked in await self._to_visit("seal", sweep):
            for tenant_id in tenants:
                with self.metrics.background_step("seal", tenant_id=tenant_id):
                    started = _now()
                    # Everything written before the lease ended is settled: sealable now.
                    settled = await self.store.for_tenant(tenant_id).audit.pending_intents() == 0
                    done, intact = await self._seal(tenant_id, region, key)
                    if done and tenant_id not in marked:
                        await self._missed("seal", region, tenant_id)
                    if settled and intact:  # a tampered log stays marked: alerted every pass
                        await self.store.clear_pending(tenant_id, "seal", started)
                    sealed += done
        return sealed

    async def _to_visit(
        self, loop: str, sweep: bool
    ) -> list[tuple[RegionName, list[str], set[str]]]:
        """Each region that answers, with the tenants *loop* visits (the marked ones whose
        data is kept; with *sweep*, every tenant with data too) and the marked ones; a region
        that does not answer is a failure of *loop* (logged and counted)."""
        visits: list[tuple[RegionName, list[str], set[str]]] = []
        for region in self.store.regions:
            with self.metrics.background_step(loop, region=region):
                marked = set(await self.store.pending_tenants(region, loop))
                kept: set[str] = set()
                for tenant_id in sorted(marked):
                    tenant = await self.store.get_tenant(tenant_id)
                    if tenant is None or tenant.status == "purged":  # no data: no work left
                        await self.store.clear_pending(tenant_id, loop, _now())
                    elif tenant.status in KEPT:
                        kept.add(tenant_id)
                if sweep:
                    tenants = await self.store.list_tenants(region)
                    kept.update(t.id for t in tenants if t.status in KEPT)
                visits.append((region, sorted(kept), marked))
        return visits

    async def _missed(self, loop: str, region: RegionName, tenant_id: str) -> None:
        """*tenant_id* had work for *loop* and no mark when the pass began: count it, unless
        a write marked it since (its work began after the pass did)."""
        if tenant_id not in await self.store.pending_tenants(region, loop):
            log.warning("%s: the sweep found tenant %s with work and no mark", loop, tenant_id)
            self.metrics.sweep_missed.labels(loop).inc()
            await self.store.mark_pending(tenant_id)  # until its work is done

    async def _kept_tenants(self, loop: str) -> list[tuple[str, list[str]]]:
        """Each region that answers, with the ids of its tenants with data; a region that
        does not is a failure of *loop* (logged and counted)."""
        kept: list[tuple[str, list[str]]] = []
        for region in self.store.regions:
            with self.metrics.background_step(loop, region=region):
                tenants = await self.store.list_tenants(region)
                kept.append((region, [t.id for t in tenants if t.status in KEPT]))
        return kept

    async def seal_tenant(self, tenant_id: str, region: str, key: SealKey) -> int:
        """Seal one tenant's new entries, unless its log was changed outside the gateway
        (then alert: an error log and ``enclave_audit_tampered_total``; nothing sealed)."""
        sealed, _ = await self._seal(tenant_id, region, key)
        return sealed

    async def _seal(self, tenant_id: str, region: str, key: SealKey) -> tuple[int, bool]:
        """How many entries of *tenant_id* were sealed, and whether its log is intact and
        sealed through its last settled entry."""
        store = self.store.for_tenant(tenant_id)
        sealed = 0
        try:
            known = await self.heads.known(tenant_id)
            for _ in range(_SEAL_BATCHES):  # one call seals a batch: go on to the end
                if not (batch := await store.seals.seal(key, known)):
                    break
                sealed += batch
            else:
                return sealed, False  # not through yet: the tenant stays marked
            head = await store.seals.head(key)
        except AuditTamperedError as exc:
            log.error(
                "audit of tenant %s changed outside the gateway at entry %d (%s): not sealed",
                tenant_id,
                exc.seq,
                exc.reason,
            )
            self.metrics.audit_tampered.labels(region).inc()
            return sealed, False
        if head is not None:
            await self.heads.remember(tenant_id, head)
        return sealed, True

    async def _seal_forever(self) -> None:
        passes = 0
        while True:
            await asyncio.sleep(self.settings.audit_seal_interval_seconds)
            with self.metrics.background_step("seal"):
                await self.seal_all(sweep=self._sweeps(passes))
            passes += 1

    async def prune_signins(self) -> int:
        """Drop every active tenant's sign-in bookkeeping past any use (attempts, used codes,
        expired sessions and their claims): a few deletes per tenant."""
        pruned = 0
        for _, tenants in await self._kept_tenants("prune"):
            for tenant_id in tenants:
                with self.metrics.background_step("prune", tenant_id=tenant_id):
                    tenant = self.store.for_tenant(tenant_id)
                    pruned += await tenant.credentials.prune() + await tenant.sessions.prune()
        return pruned

    async def _purge_forever(self) -> None:
        lifecycle = self.lifecycle()
        while True:
            with self.metrics.background_step("purge"):
                for done in await lifecycle.purge_due(OPERATOR):
                    log.info("purge-due: tenant %s: %s", done.tenant_id, done.outcome)
            with self.metrics.background_step("prune"):
                await self.prune_signins()
            await asyncio.sleep(self.settings.purge_interval_seconds)

    def start_background(self) -> None:
        self._tasks.append(asyncio.create_task(self._reconcile_forever()))
        self._tasks.append(asyncio.create_task(self.policies.listen()))
        self._tasks.append(asyncio.create_task(self.access.run(self.metrics)))
        if self.settings.purge_interval_seconds > 0:
            self._tasks.append(asyncio.create_task(self._purge_forever()))
        self._tasks += self.detector.start(self.settings.detection_interval_seconds)
        if self.settings.audit_seal_key_file is not None:
            self._tasks.append(asyncio.create_task(self._seal_forever()))
        else:
            log.warning("ENCLAVE_AUDIT_SEAL_KEY_FILE is not set: audit entries are not sealed")

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded: a task that ignores its cancellation must not hold up the shutdown.
            done, pending = await asyncio.wait(self._tasks, timeout=_STOP_SECONDS)
            for task in pending:
                frames = "; ".join(f"{f.f_code.co_qualname}:{f.f_lineno}" for f in task.get_stack())
                log.error("background task did not stop when cancelled, at %s", frames)
            for task in done:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        with self.metrics.background_step("access_log"):
            await self.access.flush()
        await self.detector.aclose()
        await self.store.aclose()
        await self.redis.aclose()
        self.signin.passwords.close()
        if self.tracing is not None:
            await self.tracing.aclose()
