"""Bounds of the per-process caches kept per tenant, and locks per key that need none.

Every cache keyed by tenant (or by something of one tenant) is a ``cachetools`` cache with
a ``maxsize`` (``Settings.tenant_cache_size``): the least recently used entry is forgotten
first, and a forgotten tenant's next request reads again what it needs. The event loop is
the only thread that touches them, and none is read across an ``await`` as if it could
not change meanwhile, so no lock guards them.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Hashable

__all__ = ["TENANT_CACHE_SIZE", "KeyedLocks"]

#: Tenants each per-tenant cache of a process holds by default.
TENANT_CACHE_SIZE = 10_000


class KeyedLocks:
    """An ``asyncio.Lock`` per key, kept only while some coroutine holds or awaits it.

    Weakly held: a lock nobody refers to is dropped, so the map stays as small as the
    number of keys in use at once. A lock is never dropped while held or awaited (the
    holders refer to it), so two coroutines of one key always share the same lock, which
    an LRU of locks could not promise.
    """

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[Hashable, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def __call__(self, key: Hashable) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def __len__(self) -> int:
        return len(self._locks)
