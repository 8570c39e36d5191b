"""Rate limits per principal and per tenant, counted in Redis so they hold across gateways.

Fixed windows (``window_seconds``): each request increments the principal's and the
tenant's counter for the current window; over either limit, the request is refused with
429 and ``Retry-After`` (seconds to the next window), before any work is done.

While Redis is unreachable the limits are not enforced (fail open: the gateway keeps
serving, and logs that limits are off); abuse protection returns with Redis. A limit of 0
turns that limit off.
"""

from __future__ import annotations

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
    ) -> None:
        self._redis = redis
        self._per_principal = per_principal
        self._per_tenant = per_tenant
        self._window = window_seconds
        self._warned = False

    async def check(self, principal: Principal) -> None:
        if not (self._per_principal or self._per_tenant):
            return
        now = time.time()
        window = int(now // self._window)
        keys = (
            (
                f"enclave:rl:p:{principal.tenant_id}:{principal.user_id}:{window}",
                self._per_principal,
            ),
            (f"enclave:rl:t:{principal.tenant_id}:{window}", self._per_tenant),
        )
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
