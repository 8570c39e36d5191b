"""The long-lived resources of one gateway process, built from settings and closed together."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from cachetools import Cache
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
from gateway.exporturls import ExportUrls
from gateway.idempotency import IdempotencyStore, forget_tenant
from gateway.metrics import GatewayMetrics
from gateway.persisted import PersistedOperations
from gateway.ratelimit import RateLimiter
from gateway.settings import Settings
from regions import nativecrypto
from resolvers.authz.cache import AuthorizationCache
from resolvers.authz.introspection import REACHABLE
from resolvers.authz.policycache import PolicyCache
from schema.errors import AuditTamperedError
from storage.base import Store
from storage.contract.lifecycle import TenantLifecycle
from storage.open import open_store
from storage.signing import SealKey
from storage.values import OPERATOR

__all__ = ["Services"]

_STOP_SECONDS = 10.0
log = logging.getLogger("enclave.gateway")
#: Tenants whose data is kept (locked out or not): their audit is settled and sealed.
KEPT = frozenset({"active", "suspended", "terminated"})


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
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        crypto = nativecrypto.install(settings.native_crypto)  # before any encrypted client
        metrics = GatewayMetrics()
        metrics.crypto_in_use(crypto.native)
        store = open_store(
            settings.regions(),
            settings.audit_mac(),
            listeners=metrics.listeners,
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
        )
        metrics.caches(services.caches)
        return services

    def caches(self) -> dict[str, Cache[Any, Any]]:
        """The process's caches by name (``enclave_cache_entries``): those kept per tenant,
        bounded by ``Settings.tenant_cache_size``, and those per document or policy."""
        return {
            "tenants": self.tenants.entries,
            "policies": self.policies.tenants,
            "allow_list_modes": self.operations.modes,
            "api_key_uses": self.api_keys.touched,
            "audit_heads": self.heads.heads,
            "persisted_documents": self.operations.documents,
            "validated_documents": self.authorization.validated,
            "authorizations": self.authorization.authorized,
            "compiled_operations": self.authorization.operations,
            "introspection_reach": REACHABLE,
            "signin_tokens_seen": self.access.seen_tokens,
            **self.store.caches(),
        }

    def lifecycle(self) -> TenantLifecycle:
        return self.store.lifecycle(forget=functools.partial(forget_tenant, self.redis))

    async def reconcile_all(self) -> int:
        """Settle pending audit intents of every tenant with data whose region answers."""
        settled = 0
        for region, tenants in await self._kept_tenants("reconcile"):
            pending = in_region = 0
            for tenant_id in tenants:
                with self.metrics.background_step("reconcile", tenant_id=tenant_id):
                    # Intents whose writer's lease has ended: the writer will not apply them.
                    store = self.store.for_tenant(tenant_id)
                    in_region += await store.audit.reconcile(older_than=dt.timedelta(0))
                    pending += await store.audit.pending_intents()
            self.metrics.audit_reconciled.labels(region).inc(in_region)
            self.metrics.audit_pending.labels(region).set(pending)
            settled += in_region
        return settled

    async def _reconcile_forever(self) -> None:
        while True:
            with self.metrics.background_step("reconcile"):
                if settled := await self.reconcile_all():
                    log.info("reconciled %d pending audit intents", settled)
            await asyncio.sleep(self.settings.reconcile_interval_seconds)

    async def seal_all(self) -> int:
        """Seal new audit entries of every tenant with data whose region answers."""
        key = self.settings.seal_key()
        sealed = 0
        for region, tenants in await self._kept_tenants("seal"):
            for tenant_id in tenants:
                with self.metrics.background_step("seal", tenant_id=tenant_id):
                    sealed += await self.seal_tenant(tenant_id, region, key)
        return sealed

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
        store = self.store.for_tenant(tenant_id)
        try:
            sealed = await store.seals.seal(key, await self.heads.known(tenant_id))
            head = await store.seals.head(key)
        except AuditTamperedError as exc:
            log.error(
                "audit of tenant %s changed outside the gateway at entry %d (%s): not sealed",
                tenant_id,
                exc.seq,
                exc.reason,
            )
            self.metrics.audit_tampered.labels(region).inc()
            return 0
        if head is not None:
            await self.heads.remember(tenant_id, head)
        return sealed

    async def _seal_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.audit_seal_interval_seconds)
            with self.metrics.background_step("seal"):
                await self.seal_all()

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
        await self.store.aclose()
        await self.redis.aclose()
        self.signin.passwords.close()
