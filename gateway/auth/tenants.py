"""Whether a caller's tenant is active: its control record, cached briefly."""

from __future__ import annotations

import time

from cachetools import TTLCache

from schema.errors import BadUserInputError, RegionUnavailableError, UnauthenticatedError
from storage.base import Store
from storage.caches import TENANT_CACHE_SIZE
from storage.values import TenantInfo

__all__ = ["TenantCache"]


class TenantCache:
    """Tenant control records, cached briefly: a suspended tenant is locked out within *ttl*,
    at once where the change is announced on the policy channel
    (:mod:`resolvers.authz.policycache`).

    While a region is unreachable, an entry up to *stale_ttl* old is still used, so that
    the tenant's requests get ``REGION_UNAVAILABLE`` from the operation itself, in the
    GraphQL response, like every other error of an authenticated caller.

    The records of *size* tenants are kept, the least recently used forgotten first, and
    none past *stale_ttl* (a forgotten record is read again).
    """

    def __init__(
        self,
        store: Store,
        ttl: float = 5.0,
        stale_ttl: float = 600.0,
        size: int = TENANT_CACHE_SIZE,
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._stale_ttl = stale_ttl
        self.entries: TTLCache[str, tuple[float, TenantInfo | None]] = TTLCache(
            size, stale_ttl, timer=time.monotonic
        )

    def forget(self, tenant_id: str) -> None:
        """Read the tenant's control record again on its next request (its state changed)."""
        self.entries.pop(tenant_id, None)

    def fresh(self, tenant_id: str) -> bool:
        """Whether the tenant's control record is cached and not due for a re-read."""
        hit = self.entries.get(tenant_id)
        return hit is not None and hit[0] + self._ttl >= time.monotonic()

    async def require_active(self, tenant_id: str) -> TenantInfo:
        now = time.monotonic()
        hit = self.entries.get(tenant_id)
        if hit is None or hit[0] + self._ttl < now:
            try:
                info = await self._store.get_tenant(tenant_id)
            except BadUserInputError:
                info = None
            except RegionUnavailableError:
                if hit is None or hit[0] + self._stale_ttl < now:
                    raise
                info = hit[1]
            else:
                self.entries[tenant_id] = (now, info)
        else:
            info = hit[1]
        if info is None or info.status != "active":
            raise UnauthenticatedError("invalid or expired token")
        return info
