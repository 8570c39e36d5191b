"""Authenticating integrators by API key.

A key is checked against its tenant's database on every request (one lookup by id), so a
revoked key stops working at once on every gateway process; its last use is recorded at
most once a minute per process.
"""

from __future__ import annotations

import datetime as dt
import time

from resolvers.context import Principal
from schema.errors import UnauthenticatedError
from storage.base import Store
from storage.contract.api_keys import parse_api_key

__all__ = ["ApiKeys", "is_api_key"]


def is_api_key(token: str) -> bool:
    return token.startswith("enk_")


class ApiKeys:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._touched: dict[str, float] = {}

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
        now = time.monotonic()
        if now - self._touched.get(key_id, 0.0) > 60:
            self._touched[key_id] = now
            if len(self._touched) > 100_000:
                self._touched.clear()
            await store.api_keys.touch(key_id, dt.datetime.now(dt.UTC))
        return Principal(
            tenant_id=tenant_id,
            user_id=key.id,
            roles=(key.role,),
            kind="api_key",
            key_can_export=key.can_export,
        )
