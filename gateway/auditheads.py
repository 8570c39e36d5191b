"""The latest audit head each tenant's chain was sealed to, kept outside the database.

A gateway remembers, per tenant, the signed head of the last checkpoint it saw sealed, in
its own memory and in Redis (shared by every gateway, surviving restarts). The sealer will
not extend a chain whose remembered checkpoint is gone, and verification checks the log
against these heads, so deleting the newest entries together with their checkpoints is
found. Heads are signed (:class:`storage.auditmac.SignedHead`): a head changed in Redis is
ignored rather than trusted.

A process remembers the heads of the *size* tenants it sealed last (least recently used
forgotten first); Redis keeps every tenant's, so a head forgotten here is still checked.
"""

from __future__ import annotations

import logging

import orjson
import redis.asyncio as aioredis
from cachetools import LRUCache
from redis.exceptions import RedisError

from storage.auditmac import SignedHead
from storage.caches import TENANT_CACHE_SIZE

__all__ = ["KnownHeads"]

log = logging.getLogger("enclave.audit")
_PREFIX = "enclave:audit-head:"


class KnownHeads:
    def __init__(self, redis: aioredis.Redis, size: int = TENANT_CACHE_SIZE) -> None:
        self._redis = redis
        self.heads: LRUCache[str, SignedHead] = LRUCache(size)

    async def known(self, tenant_id: str) -> list[SignedHead]:
        """The heads remembered here and in Redis (either may be missing)."""
        here = self.heads.get(tenant_id)
        heads = [here] if here is not None else []
        try:
            raw = await self._redis.get(_PREFIX + tenant_id)
        except RedisError:
            log.warning("audit heads: Redis unavailable; using this process's only")
            return heads
        if raw is not None:
            try:
                heads.append(SignedHead.from_json(orjson.loads(raw)))
            except (orjson.JSONDecodeError, ValueError, TypeError):
                log.error("audit heads: the head kept in Redis for %s is unreadable", tenant_id)
        return heads

    async def remember(self, tenant_id: str, head: SignedHead) -> None:
        """Keep *head* unless a later one is known (heads only move forward)."""
        current = self.heads.get(tenant_id)
        if current is None or head.seq >= current.seq:
            self.heads[tenant_id] = head
        try:
            raw = await self._redis.get(_PREFIX + tenant_id)
            stored = SignedHead.from_json(orjson.loads(raw)) if raw is not None else None
            if stored is None or head.seq >= stored.seq:
                await self._redis.set(_PREFIX + tenant_id, orjson.dumps(head.to_json()))
        except (RedisError, orjson.JSONDecodeError, ValueError, TypeError):
            log.warning("audit heads: could not keep the head of %s in Redis", tenant_id)
