"""Rate limits per principal and per tenant (:mod:`gateway.ratelimit`): ``429 RATE_LIMITED``
with ``Retry-After``, before any work is done for the caller."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope

from gateway.middleware.base import PRINCIPAL, Check
from gateway.ratelimit import RateLimiter

__all__ = ["RateLimit"]


class RateLimit(Check):
    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        super().__init__(app)
        self.limiter = limiter

    async def check(self, scope: Scope, receive: Receive) -> None:
        await self.limiter.check(PRINCIPAL.of(scope))
