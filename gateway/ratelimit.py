"""Rate limits per principal and per tenant, counted in Redis so they hold across gateways.

Fixed windows (``window_seconds``): each request increments the principal's and the
tenant's counter for the current window; over either limit, the request is refused with
429 and ``Retry-After`` (seconds to the next window), before any work is done.

Anonymous sign-in operations (``login``, ``refreshSession``, ``activateAccount``) have
limits of their own, per client address and per tenant named, counted per operation (an
aliased field counts each time) before any password is hashed.

While Redis is unreachable the limits are not enforced (fail open: the gateway keeps
serving, and logs that limits are off); abuse protection returns with Redis. A limit of 0
turns that limit off.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from resolvers.context import Principal
from schema.errors import EnclaveError

__all__ = ["RateLimitedError", "RateLimiter"]

log = logging.getLogger("enclave.ratelimit")


class RateLimitedError(EnclaveError):
    code = "RATE_LIMITED"
    http_status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many requests; retry after {retry_after} s", retryAfter=retry_after)
        self.retry_after = retry_after


class RateLimiter:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        per_principal: int,
        per_tenant: int,
        window_seconds: int,
        signin_per_address: int = 0,
        signin_per_tenant: int = 0,
    ) -> None:
        self._redis = redis
        self._per_principal = per_principal
        self._per_tenant = per_tenant
        self._signin_per_address = signin_per_address
        self._signin_per_tenant = signin_per_tenant
        self._window = window_seconds
        self._warned = False

    async def check(self, principal: Principal) -> None:
        await self._count(
            ("p", f"{principal.tenant_id}:{principal.user_id}", self._per_principal),
            ("t", principal.tenant_id, self._per_tenant),
        )

    async def check_signin(self, address: str | None, tenant_id: str) -> None:
        """Count one anonymous sign-in operation of *address* for *tenant_id* (any string
        the caller sent: only its hash is a key, so a long or odd one costs nothing)."""
        tenant = hashlib.sha256(tenant_id.encode()).hexdigest()[:32]
        await self._count(
            ("sa", address or "-", self._signin_per_address),
            ("st", tenant, self._signin_per_tenant),
        )

    async def _count(self, *counters: tuple[str, str, int]) -> None:
        if not any(limit for _, _, limit in counters):
            return
        now = time.time()
        window = int(now // self._window)
        keys = [(f"enclave:rl:{kind}:{name}:{window}", limit) for kind, name, limit in counters]
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, _ in keys:
                    pipe.incr(key)
                    pipe.expire(key, self._window + 1)
                counts = (await pipe.execute())[::2]
        except (RedisError, OSError):
            if not self._warned:
                log.warning("rate limits are off while Redis is unreachable")
                self._warned = True
            return
        self._warned = False
        for (_, limit), count in zip(keys, counts, strict=True):
            if limit and int(count) > limit:
                raise RateLimitedError(max(1, math.ceil((window + 1) * self._window - now)))
