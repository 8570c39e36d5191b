"""Authenticating integrators by API key.

A key is checked against its tenant's database on every request (one lookup by id), so a
revoked key stops working at once on every gateway process; its last use is recorded at
most once a minute per process (the keys used in the last minute are remembered, at most
*size* of them: a key forgotten early is only recorded again).
"""

from __future__ import annotations

import datetime as dt
import time

from cachetools import TTLCache

from resolvers.context import Principal
from schema.errors import UnauthenticatedError
from storage.base import Store
from storage.caches import TENANT_CACHE_SIZE
from storage.contract.api_keys import parse_api_key

__all__ = ["ApiKeys", "is_api_key"]


def is_api_key(token: str) -> bool:
    return token.startswith("enk_")


class ApiKeys:
    def __init__(self, store: Store, size: int = TENANT_CACHE_SIZE) -> None:
        self._store = store
        #: The keys whose use was recorded in the last minute.
        self.touched: TTLCache[str, bool] = TTLCache(size, 60.0, timer=time.monotonic)

    async def authenticate(self, value: str) -> Principal:
        parsed = parse_api_key(value)
        if parsed is None:
            raise UnauthenticatedError("invalid or expired token")
        tenant_id, key_id, secret = parsed
        try:
            store = self._store.for_tenant(tenant_id)
        except Exception:  # a malformed tenant id
            raise UnauthenticatedError("invalid or expired token") from None
        key = await store.api_keys.check(key_id, secret)
        if key is None:
            raise UnauthenticatedError("invalid or expired token")
        if key_id not in self.touched:
            self.touched[key_id] = True
            await store.api_keys.touch(key_id, dt.datetime.now(dt.UTC))
        return Principal(
            tenant_id=tenant_id,
            user_id=key.id,
            roles=(key.role,),
            kind="api_key",
            key_can_export=key.can_export,
        )
