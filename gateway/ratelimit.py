"""Rate limits per principal and per tenant, counted in Redis so they hold across gateways.

Fixed windows (``window_seconds``): each request increments the principal's and the
tenant's counter for the current window; over either limit, the request is refused with
429 and ``Retry-After`` (seconds to the next window), before any work is done.

Anonymous sign-in operations (``login``, ``refreshSession``, ``activateAccount``) have
limits of their own, per client address (an IPv6 address by its /64) and per tenant named,
counted before any password is hashed. A refresh hashes none: it counts per address, and
per tenant only when it fails (so nobody can use up a tenant's sign-ins by refreshing).

While Redis is unreachable the limits are not enforced (fail open: the gateway keeps
serving, and logs that limits are off); abuse protection returns with Redis. A limit of 0
turns that limit off.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import math
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from resolvers.context import Principal
from schema.errors import RateLimitedError

__all__ = ["RateLimiter"]

log = logging.getLogger("enclave.ratelimit")


def _address_key(address: str | None) -> str:
    """An IPv6 client counts by its /64 (one host usually holds the whole prefix)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or "-"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _tenant_key(tenant_id: str) -> str:
    return hashlib.sha256(tenant_id.encode()).hexdigest()[:32]


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
        await self._count(
            ("sa", _address_key(address), self._signin_per_address),
            ("st", _tenant_key(tenant_id), self._signin_per_tenant),
        )

    async def check_refresh(self, address: str | None, tenant_id: str) -> None:
        """Count one refresh of *address*; refused too while *tenant_id*'s failed refreshes
        are over the per-tenant limit. A refresh hashes no password, so only failures
        (guesses) count per tenant: nobody can use up a tenant's refreshes or sign-ins."""
        await self._count(("sa", _address_key(address), self._signin_per_address))
        await self._count(("rf", _tenant_key(tenant_id), self._signin_per_tenant), add=0)

    async def refresh_failed(self, tenant_id: str) -> None:
        """Count one failed refresh for *tenant_id* (never refuses by itself)."""
        with contextlib.suppress(RateLimitedError):
            await self._count(("rf", _tenant_key(tenant_id), self._signin_per_tenant))

    async def _count(self, *counters: tuple[str, str, int], add: int = 1) -> None:
        """Add *add* to each counter of this window; refused if one is over its limit."""
        if not any(limit for _, _, limit in counters):
            return
        now = time.time()
        window = int(now // self._window)
        keys = [(f"enclave:rl:{kind}:{name}:{window}", limit) for kind, name, limit in counters]
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, _ in keys:
                    pipe.incrby(key, add)
                    pipe.expire(key, self._window + 1)
                counts = (await pipe.execute())[::2]
        except (RedisError, OSError):
            if not self._warned:
                log.warning("rate limits are off while Redis is unreachable")
                self._warned = True
            return
        self._warned = False
        for (_, limit), count in zip(keys, counts, strict=True):
            if limit and int(count) + 1 - add > limit:  # add=0: would this one be over?
                raise RateLimitedError(max(1, math.ceil((window + 1) * self._window - now)))
