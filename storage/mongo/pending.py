"""Which tenants of a region have background work pending (``enclave_control.pending_work``).

Before a write inserts its audit intent it marks its tenant, once per *work* (reconcile,
seal), in its own region's control database: ``{_id: "<work>/<tenant>/<bucket>", work,
tenant, until}``, where the bucket is the time slot the write started in and ``until`` its
end. Marks are only ever inserted (a duplicate means the slot is marked already) and deleted:
the one primitive atomic on every server we support, so no update can lose a mark. A crash
between the mark and the intent leaves a mark with nothing to do, never an intent unmarked.

A write inserts its intent no later than its lease after it started (``writes.LEASE``), so
work that started at ``t`` sees the intents of every write whose slot ended before
``t - LEASE``: only those marks are dropped when that work finds nothing left
(:meth:`PendingWork.clear`). Newer marks stay for the next pass.

Each process remembers the slot it marked last per tenant, so a busy tenant costs one insert
per slot, not per write: a remembered mark cannot be dropped before the writes that rely on
it are past their lease.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from regions.clients import RegionClient
from storage.mongo.control import CONTROL_DB

__all__ = ["BUCKET", "PENDING", "WORKS", "PendingWork", "bucket_of"]

PENDING = "pending_work"
#: The background work a write leaves to do.
WORKS = ("reconcile", "seal")
#: The time slot a mark stands for.
BUCKET = dt.timedelta(seconds=5)
_REMEMBERED = 10_000
_DUPLICATE = 11000


def bucket_of(at: dt.datetime) -> int:
    return int(at.timestamp() // BUCKET.total_seconds())


def _until(bucket: int) -> dt.datetime:
    return dt.datetime.fromtimestamp((bucket + 1) * BUCKET.total_seconds(), dt.UTC)


class PendingWork:
    """The pending-work marks of one region, and this process's memory of what it marked."""

    def __init__(self, region: RegionClient) -> None:
        self.marks: AsyncCollection[dict[str, Any]] = region.plain[CONTROL_DB][PENDING]
        self._marked: dict[str, int] = {}

    async def mark(self, tenant_id: str, at: dt.datetime, *, remembered: bool = True) -> None:
        """Mark *tenant_id* for every work, at *at*; unless *remembered* is False, not
        again in a slot this process marked it in already."""
        bucket = bucket_of(at)
        if remembered and self._marked.get(tenant_id) == bucket:
            return
        docs = [
            {
                "_id": f"{work}/{tenant_id}/{bucket}",
                "work": work,
                "tenant": tenant_id,
                "until": _until(bucket),
            }
            for work in WORKS
        ]
        try:
            await self.marks.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != _DUPLICATE for e in exc.details.get("writeErrors", [])):
                raise
        if len(self._marked) >= _REMEMBERED:
            self._marked.clear()  # bounded: forgetting costs one more insert per tenant
        self._marked[tenant_id] = bucket

    async def tenants(self, work: str) -> list[str]:
        """The tenants marked for *work*, by id."""
        found = await self.marks.distinct("tenant", {"work": work})
        return sorted(str(t) for t in found)

    async def clear(self, tenant_id: str, work: str, through: dt.datetime) -> int:
        """Drop *tenant_id*'s marks for *work* of slots that ended by *through*."""
        result = await self.marks.delete_many(
            {"work": work, "tenant": tenant_id, "until": {"$lte": through}}
        )
        return result.deleted_count


async def ensure_pending_indexes(marks: AsyncCollection[dict[str, Any]]) -> None:
    await marks.create_index([("work", 1), ("tenant", 1)])
