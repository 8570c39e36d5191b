"""Compiled policies, cached per process and kept current across processes.

Each process keeps, per tenant, the roles and users it has loaded and the policy version
they were loaded at. A role or user change publishes the tenant id on the Redis channel
``enclave:policy``; every process listening drops its copy for that tenant at once, so a
change reaches every gateway within a second. A change of a tenant's state (suspended,
terminated...) is announced the same way, so that gateways read its control record again.

Without Redis (unreachable, or the subscription broken) a process re-reads the tenant's
policy version at most ``recheck_seconds`` (default 2 s) after it last did, so a change is
in force everywhere within that bound plus one request. While the subscription is healthy
the version is still re-read every ``healthy_recheck_seconds`` (30 s), since pub/sub may
drop a message across a reconnect.

The policies of ``size`` tenants are kept, the least recently used forgotten first (read
again on the tenant's next request); per tenant, ``users`` users and ``POLICIES`` compiled
role sets.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from cachetools import LRUCache
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from resolvers.authz.policy import Policy, compile_policy
from resolvers.context import Principal
from schema.errors import RegionUnavailableError, UnauthenticatedError
from schema.roles import ADMIN, RoleDefinition
from storage.base import Store
from storage.caches import TENANT_CACHE_SIZE, KeyedLocks
from storage.contract.blocks import FOREVER
from storage.values import User

__all__ = ["CHANNEL", "PolicyCache"]

#: What a token that must enrol a second factor may use.
ENROLL_ONLY = frozenset({"me", "enrollTotp", "confirmTotp", "logout"})

log = logging.getLogger("enclave.policies")
CHANNEL = "enclave:policy"
#: Per tenant, a Redis hash of the principals containments blocked (``kind:id`` -> epoch).
BLOCKS_KEY = "enclave:blocks:"
#: Compiled policies (distinct role sets) kept per tenant.
POLICIES = 256


@dataclass
class _TenantPolicies:
    version: int
    checked: float
    roles: dict[str, RoleDefinition]
    users: LRUCache[str, User | None]
    #: Principals a breach containment blocked (``kind:id``), and since when.
    blocks: Mapping[str, dt.datetime]
    compiled: LRUCache[tuple[tuple[str, ...], bool], Policy] = field(
        default_factory=lambda: LRUCache(POLICIES)
    )


class PolicyCache:
    def __init__(
        self,
        store: Store,
        redis: aioredis.Redis,
        *,
        recheck_seconds: float = 2.0,
        healthy_recheck_seconds: float = 30.0,
        also_forget: Callable[[str], None] | None = None,
        size: int = TENANT_CACHE_SIZE,
        users: int = 10_000,
    ) -> None:
        #: What else a process drops for a tenant whose roles, users or state changed.
        self._also_forget = also_forget
        self._store = store
        self._redis = redis
        self._recheck = recheck_seconds
        self._healthy_recheck = healthy_recheck_seconds
        self.tenants: LRUCache[str, _TenantPolicies] = LRUCache(size)
        self._users = users
        self._locks = KeyedLocks()
        self._publishing: set[asyncio.Task[None]] = set()
        self.listening = False

    async def _state(self, tenant_id: str) -> _TenantPolicies:
        state = self.tenants.get(tenant_id)
        interval = self._healthy_recheck if self.listening else self._recheck
        if state is not None and time.monotonic() - state.checked < interval:
            return state
        async with self._locks(tenant_id):
            state = self.tenants.get(tenant_id)
            if state is not None and time.monotonic() - state.checked < interval:
                return state
            tenant = self._store.for_tenant(tenant_id)
            try:
                version = await tenant.roles.policy_version()
            except RegionUnavailableError:
                if state is None:
                    raise
                # The region is down: nothing can change there either. Keep the policy, so
                # the operation itself answers REGION_UNAVAILABLE in the GraphQL response.
                return state
            if state is None or state.version != version:
                found, stored, kept = await asyncio.gather(
                    tenant.roles.all(), tenant.blocks.all(), self._kept_blocks(tenant_id)
                )
                roles = {r.definition.name: r.definition for r in found}
                blocks = {**kept, **{p: max(at, kept.get(p, at)) for p, at in stored.items()}}
                state = _TenantPolicies(
                    version, time.monotonic(), roles, LRUCache(self._users), blocks
                )
            else:
                state.checked = time.monotonic()
            self.tenants[tenant_id] = state
            return state

    async def prefetch(self, tenant_id: str) -> None:
        """Load the tenant's roles and policy version, if due (before its first request
        needs them: :mod:`gateway.auth.authenticator`)."""
        await self._state(tenant_id)

    async def policy_for(self, principal: Principal) -> Policy:
        """The caller's current policy; ``UNAUTHENTICATED`` if the user no longer exists."""
        state = await self._state(principal.tenant_id)
        if _blocked(state.blocks, principal.kind, principal.user_id, principal.issued_at):
            raise UnauthenticatedError("invalid or expired token")
        if principal.scope is not None:
            # A sign-in that must enrol a second factor first: nothing else.
            return Policy((), state.version, admin=False, can_export=False, restricted=ENROLL_ONLY)
        user = state.users.get(principal.user_id)
        if principal.kind != "api_key" and principal.user_id not in state.users:
            user = await self._store.for_tenant(principal.tenant_id).users.get(principal.user_id)
            state.users[principal.user_id] = user
        if principal.kind == "api_key":
            # The key is scoped to one role, checked when it was created and is re-read on
            # every request; a role deleted since grants nothing.
            roles, can_export = principal.roles, principal.key_can_export
        elif principal.external:
            # The identity provider decides the roles; only those the tenant defines count.
            known = [r for r in principal.roles if r in state.roles or r == ADMIN]
            roles, can_export = tuple(known), bool(user and user.can_export)
        elif user is None:
            raise UnauthenticatedError("invalid or expired token")
        else:
            roles, can_export = user.roles, user.can_export
        key = (tuple(sorted(roles)), can_export)
        policy = state.compiled.get(key)
        if policy is None:
            policy = compile_policy(
                roles, state.roles, version=state.version, can_export=can_export
            )
            state.compiled[key] = policy
        return policy

    async def blocked(
        self, tenant_id: str, kind: str, principal_id: str, issued_at: dt.datetime
    ) -> bool:
        """Whether a breach containment blocked the principal after *issued_at* (e.g. an
        export started before it): from the cached policy, no read of its own."""
        state = await self._state(tenant_id)
        return _blocked(state.blocks, kind, principal_id, int(issued_at.timestamp()))

    def forget(self, tenant_id: str) -> None:
        self.tenants.pop(tenant_id, None)
        if self._also_forget is not None:
            self._also_forget(tenant_id)

    async def announce(self, tenant_id: str) -> None:
        """Like ``changed``, waiting for the announcement (a CLI process about to exit)."""
        self.forget(tenant_id)
        await self._publish(tenant_id)

    async def changed(self, tenant_id: str) -> None:
        """After a role or user change: forget it here, and tell the other processes.

        The announcement goes out in the background with a short time limit, so a slow or
        hung Redis never holds up the mutation; if it is lost, the version recheck covers it.
        """
        self.forget(tenant_id)
        task = asyncio.create_task(self._publish(tenant_id))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def keep_blocks(self, tenant_id: str, principals: Sequence[str], at: dt.datetime) -> None:
        """Keep the blocks in Redis as well (outside the database, like the audit heads): a
        block document deleted in the database stays in force. Best effort: without Redis,
        the documents alone hold (an edited one fails closed, a deleted one is not seen)."""
        try:
            await asyncio.wait_for(
                self._redis.hset(
                    BLOCKS_KEY + tenant_id, mapping=dict.fromkeys(principals, at.timestamp())
                ),
                timeout=2.0,
            )
        except (RedisError, OSError, TimeoutError):
            log.warning("could not keep a block outside the database; its document holds it")

    async def _kept_blocks(self, tenant_id: str) -> dict[str, dt.datetime]:
        try:
            kept = await asyncio.wait_for(self._redis.hgetall(BLOCKS_KEY + tenant_id), 2.0)
        except (RedisError, OSError, TimeoutError):
            log.warning("blocks kept outside the database unreadable; the documents hold")
            return {}
        found: dict[str, dt.datetime] = {}
        for principal, at in kept.items():
            name = principal.decode() if isinstance(principal, bytes) else str(principal)
            try:
                found[name] = dt.datetime.fromtimestamp(float(at), dt.UTC)
            except (ValueError, OverflowError, OSError):
                found[name] = FOREVER  # unreadable: refused
        return found

    async def _publish(self, tenant_id: str) -> None:
        try:
            await asyncio.wait_for(self._redis.publish(CHANNEL, tenant_id), timeout=2.0)
        except (RedisError, OSError, TimeoutError):
            log.warning(
                "could not announce a policy change; other gateways see it within %.0f s",
                self._recheck,
            )

    async def listen(self) -> None:
        """Forget tenants whose policies others changed; reconnects until cancelled.

        The subscription counts as healthy only while Redis answers a ping every second: a
        hung Redis (a network partition) looks like silence, not like an error.
        """
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                # Whatever changed while we were not subscribed was announced to nobody:
                # check every tenant's version again on its next request.
                self._mark_all_stale()
                self.listening = True
                await self._receive(pubsub)
            except (RedisError, OSError, TimeoutError):
                if self.listening:
                    log.warning(
                        "policy change channel lost; rechecking every %.0f s", self._recheck
                    )
                    # Policies may change while we are not listening: check them again.
                    self._mark_all_stale()
                self.listening = False
                await asyncio.sleep(1.0)
            finally:
                self.listening = False
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _receive(self, pubsub: PubSub) -> None:
        heard = pinged = time.monotonic()
        while True:
            now = time.monotonic()
            if now - pinged >= 1.0:
                await asyncio.wait_for(pubsub.ping(), timeout=1.0)
                pinged = now
            message = await pubsub.get_message(timeout=0.5)
            if message is not None:
                heard = time.monotonic()
                if message.get("type") == "message" and isinstance(message.get("data"), bytes):
                    self.forget(message["data"].decode())
            elif time.monotonic() - heard > 3.0:
                raise TimeoutError("no answer from Redis on the policy channel")

    def _mark_all_stale(self) -> None:
        for state in self.tenants.values():
            state.checked = 0.0


def _blocked(
    blocks: Mapping[str, dt.datetime], kind: str, principal_id: str, issued_at: int | None
) -> bool:
    """A credential issued (whole seconds) at or before its principal's block, or of unknown
    age, is refused: one issued in the block's second may predate it."""
    since = blocks.get(f"{kind}:{principal_id}")
    if since is None:
        return False
    return issued_at is None or since.year == dt.MAXYEAR or issued_at <= int(since.timestamp())
