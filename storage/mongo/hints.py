"""Per-process guesses that spare the write path and the reconciler a search each time."""

from __future__ import annotations

import asyncio

__all__ = ["SequenceHints"]


class SequenceHints:
    """Per-process guesses of each tenant's next audit sequence number, and of the highest
    sequence number below which every intent is settled (where the reconciler starts)."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}
        self._settled: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._orphans: dict[str, str] = {}

    def get(self, db_name: str) -> int | None:
        return self._next.get(db_name)

    def set(self, db_name: str, value: int) -> None:
        self._next[db_name] = value

    def forget(self, db_name: str) -> None:
        self._next.pop(db_name, None)

    def lock(self, db_name: str) -> asyncio.Lock:
        return self._locks.setdefault(db_name, asyncio.Lock())

    def orphans_checked(self, db_name: str) -> str:
        return self._orphans.get(db_name, "")

    def set_orphans_checked(self, db_name: str, value: str) -> None:
        self._orphans[db_name] = value

    def settled(self, db_name: str) -> int:
        return self._settled.get(db_name, 0)

    def set_settled(self, db_name: str, value: int) -> None:
        self._settled[db_name] = max(value, self.settled(db_name))
