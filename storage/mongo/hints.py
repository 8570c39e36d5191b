"""Per-process guesses that spare the write path and the reconciler a search each time."""

from __future__ import annotations

import asyncio

from cachetools import LRUCache

from storage.caches import TENANT_CACHE_SIZE, KeyedLocks

__all__ = ["SequenceHints"]


class SequenceHints:
    """Per-process guesses of each tenant's next audit sequence number, and of the highest
    sequence number below which every intent is settled (where the reconciler starts).

    Each is kept for the *size* tenants used last: a forgotten guess is only a slower
    start (the end of the log is searched again, the reconciler starts from the beginning).
    """

    def __init__(self, size: int = TENANT_CACHE_SIZE) -> None:
        self.next: LRUCache[str, int] = LRUCache(size)
        self.settled_at: LRUCache[str, int] = LRUCache(size)
        self.orphans: LRUCache[str, str] = LRUCache(size)
        self._locks = KeyedLocks()

    def get(self, db_name: str) -> int | None:
        return self.next.get(db_name)

    def set(self, db_name: str, value: int) -> None:
        self.next[db_name] = value

    def forget(self, db_name: str) -> None:
        self.next.pop(db_name, None)

    def lock(self, db_name: str) -> asyncio.Lock:
        return self._locks(db_name)

    def orphans_checked(self, db_name: str) -> str:
        return self.orphans.get(db_name, "")

    def set_orphans_checked(self, db_name: str, value: str) -> None:
        self.orphans[db_name] = value

    def settled(self, db_name: str) -> int:
        return self.settled_at.get(db_name, 0)

    def set_settled(self, db_name: str, value: int) -> None:
        self.settled_at[db_name] = max(value, self.settled(db_name))
