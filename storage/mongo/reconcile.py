"""Settling what a crash left of the audited write path (:mod:`storage.mongo.writes`).

An intent without an outcome whose writer's lease has run out is settled: committed if the
record already shows the change, otherwise rolled forward from the intent and then marked;
an entry whose MAC fails is never rolled forward. Values no entry points to (a write that
stopped between its values and its intent) are collected once they are two leases old.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from ulid import ULID

from schema.errors import ConflictError
from storage.auditmac import EntryAuthenticator
from storage.mongo.changes import OPS, Change
from storage.mongo.hints import SequenceHints
from storage.mongo.writes import (
    AUDIT,
    LEASE,
    OUTCOMES,
    VALUES,
    AlreadyAppliedError,
    WritePath,
    now,
)

__all__ = ["Reconciler"]

log = logging.getLogger("enclave.storage.writes")


class Reconciler:
    """Settles one tenant's pending intents; the watermarks live in *hints* (per process)."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        writes: WritePath,
        hints: SequenceHints,
        mac: EntryAuthenticator,
    ) -> None:
        self._db = db
        self._writes = writes
        self._hints = hints
        self._mac = mac

    async def collect_orphans(self) -> int:
        """Delete values that no entry points to, left by writes that failed or crashed
        between the values and the intent. A write never starts its intent after its lease
        (``_insert_intent``), so values older than two leases without an entry are final."""
        cutoff = str(ULID.from_datetime(now() - 2 * LEASE))
        start = self._hints.orphans_checked(self._db.name)
        found = (
            await self._db[VALUES]
            .find({"_id": {"$gt": start, "$lt": cutoff}}, {"_id": 1}, sort=[("_id", 1)], limit=1000)
            .to_list()
        )
        candidates = [d["_id"] for d in found]
        if not candidates:
            return 0
        self._hints.set_orphans_checked(self._db.name, candidates[-1])
        kept = set(await self._db[AUDIT].distinct("values", {"values": {"$in": candidates}}))
        orphans = [c for c in candidates if c not in kept]
        if orphans:
            await self._db[VALUES].delete_many({"_id": {"$in": orphans}})
        return len(orphans)

    async def reconcile(self, older_than: dt.timedelta) -> int:
        """Settle intents without an outcome whose lease ended more than *older_than* ago.

        Starts after the highest sequence number below which everything is known to be
        settled, so a periodic run costs little however long the log grows.
        """
        cutoff = now() - older_than
        start = self._hints.settled(self._db.name)
        entries = (
            await self._db[AUDIT].find({"_id": {"$gt": start}}, sort=[("_id", ASCENDING)]).to_list()
        )
        if not entries:
            return 0
        ids = [e["_id"] for e in entries]
        done = set(await self._db[OUTCOMES].distinct("_id", {"_id": {"$in": ids}}))
        count, watermark, contiguous = 0, start, True
        for entry in entries:
            seq = int(entry["_id"])
            if seq not in done:
                if entry["leaseUntil"] >= cutoff:
                    contiguous = False  # still within its writer's lease
                    continue
                if not self._mac.entry_ok(self._db.name, entry):
                    # Not written by a gateway: never roll it forward (verification names it).
                    log.error("audit entry %s of %s fails its MAC; not settled", seq, self._db.name)
                    contiguous = False
                    continue
                await self._settle(entry)
                count += 1
            if contiguous:
                watermark = seq
        self._hints.set_settled(self._db.name, watermark)
        return count

    async def pending(self) -> int:
        """Intents without an outcome, past the settled watermark (cheap after reconcile)."""
        start = self._hints.settled(self._db.name)
        ids = await self._db[AUDIT].distinct("_id", {"_id": {"$gt": start}})
        if not ids:
            return 0
        done = await self._db[OUTCOMES].count_documents({"_id": {"$in": ids}})
        return len(ids) - done

    async def _settle(self, entry: Mapping[str, Any]) -> None:
        seq = int(entry["_id"])
        if entry.get("op") == "attempt":  # crashed between an attempt and its outcome
            await self._writes.record_outcome(seq, "refused")
            return
        values = await self._db[VALUES].find_one({"_id": entry.get("values")})
        blob = values.get("change") if values else None
        if not isinstance(blob, dict) or entry.get("op") not in OPS:
            await self._writes.record_outcome(seq, "aborted")
            return
        change = Change(
            op=entry["op"],
            collection=entry["datasheet"],
            record_id=entry["record"],
            version=int(entry["version"]),
            before=blob.get("before", {}),
            after=blob.get("after", {}),
            meta=blob.get("meta", {}),
        )
        record = await self._db[change.collection].find_one({"_id": change.record_id}, {"_v": 1})
        current = None if record is None else int(record["_v"])
        if change.op == "delete":
            done = current is None or current >= change.version
        else:
            done = current is not None and current >= change.version
        if not done:
            # Roll forward: the intent carries the change; apply it again.
            try:
                await self._writes.apply(change, seq, entry["at"])
            except AlreadyAppliedError:
                pass  # another reconciler, or the writer, got there first
            except ConflictError:
                await self._writes.record_outcome(seq, "failed")
                return
        await self._writes.record_outcome(seq, "committed")
