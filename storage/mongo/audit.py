"""One tenant's audit log: events and refused attempts written, entries read and redacted,
intents a crash left settled (the record changes write their own entries: writes.py).

Reads go newest first with keyset paging on the sequence number. Values (before, after,
the caller's IP and user agent) are fetched and decrypted only when asked for.

Redaction, for the erasure of a data subject, replaces an entry's values with a marker
naming the audit entry of the redaction itself; the entry keeps its commitment, so the
hash chain still verifies, and verification checks that every marker is backed by a
redaction entry that names it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from storage.contract.audit import AuditStore
from storage.mongo.decryption import tenant_of_database, tenant_scoped
from storage.mongo.errors import MapsDriverErrors
from storage.mongo.reconcile import Reconciler
from storage.mongo.writes import AUDIT, OUTCOMES, VALUES, WritePath, now
from storage.values import Actor, AuditEntry, AuditQuery

__all__ = ["MongoAudit", "strings"]

_MAX_SCAN = 20
#: Events (not record changes) whose values may name a person by email.
_NAMING_OPS = ("subject_access", "export")


def strings(value: object) -> Iterator[str]:
    """Every string in a decrypted values document, lower-cased (emails are kept so)."""
    if isinstance(value, str):
        yield value.lower()
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)


def _query(q: AuditQuery, before: int | None) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if before is not None:
        query["_id"] = {"$lt": before}
    for key, value in (
        ("actor.id", q.actor),
        ("actor.session", q.session),
        ("datasheet", q.datasheet),
        ("record", q.record),
    ):
        if value is not None:
            query[key] = value
    if q.operation is not None:
        query["$or"] = [{"op": q.operation}, {"operation": q.operation}]
    if q.since is not None or q.until is not None:
        query["at"] = {
            **({"$gte": q.since} if q.since else {}),
            **({"$lt": q.until} if q.until else {}),
        }
    return query


@tenant_scoped(tenant_of_database)
class MongoAudit(MapsDriverErrors, AuditStore):
    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        writes: WritePath,
        reconciler: Reconciler,
        region: str,
    ) -> None:
        self._db = db  # an auto-decrypting client: values come back in the clear
        self._writes = writes
        self._reconciler = reconciler
        self._region = region

    async def record_event(
        self,
        op: str,
        actor: Actor,
        detail: Mapping[str, Any],
        values: Mapping[str, Any] | None = None,
    ) -> int:
        return await self._writes.record_event(
            op, actor, at=now(), detail=dict(detail), values=values
        )

    async def record_attempt(
        self,
        operation: str,
        actor: Actor,
        code: str,
        *,
        datasheet: str | None = None,
        record: str | None = None,
        fields: Sequence[str] = (),
    ) -> None:
        await self._writes.record_attempt(
            operation, actor, code, datasheet=datasheet, record=record, fields=list(fields)
        )

    async def reconcile(self, *, older_than: dt.timedelta) -> int:
        settled = await self._reconciler.reconcile(older_than)
        await self._reconciler.collect_orphans()
        return settled

    async def pending_intents(self) -> int:
        return await self._reconciler.pending()

    async def page(
        self,
        query: AuditQuery,
        *,
        first: int,
        after: int | None = None,
        with_values: bool = False,
    ) -> tuple[list[AuditEntry], bool]:
        found: list[tuple[Mapping[str, Any], Mapping[str, Any] | None]] = []
        before = after
        more = True
        # The outcome lives in another collection: filter on it after the join, reading
        # a bounded number of batches.
        for _ in range(_MAX_SCAN):
            batch = (
                await self._db[AUDIT]
                .find(_query(query, before), sort=[("_id", -1)], limit=first + 1)
                .to_list()
            )
            outcomes = {
                o["_id"]: o
                async for o in self._db[OUTCOMES].find({"_id": {"$in": [e["_id"] for e in batch]}})
            }
            for entry in batch[:first]:
                outcome = outcomes.get(entry["_id"])
                if query.outcome is None or (outcome and outcome.get("outcome") == query.outcome):
                    found.append((entry, outcome))
            more = len(batch) > first
            if len(found) >= first or not more:
                break
            before = batch[first - 1]["_id"]
        found = found[:first]
        values: dict[Any, Mapping[str, Any]] = {}
        if with_values:
            ids = [e.get("values") for e, _ in found if e.get("values")]
            values = {v["_id"]: v async for v in self._db[VALUES].find({"_id": {"$in": ids}})}
        return [self._entry(e, o, values.get(e.get("values"))) for e, o in found], more

    @staticmethod
    def _entry(
        e: Mapping[str, Any], o: Mapping[str, Any] | None, v: Mapping[str, Any] | None
    ) -> AuditEntry:
        blob = v.get("change") if v else None
        blob = blob if isinstance(blob, dict) else None
        return AuditEntry(
            seq=int(e["_id"]),
            at=e["at"],
            actor=e.get("actor") or {},
            op=e["op"],
            operation=e.get("operation"),
            datasheet=e.get("datasheet"),
            record=e.get("record"),
            version=e.get("version"),
            fields=list(e.get("fields") or ()),
            outcome=o.get("outcome") if o else None,
            code=o.get("code") if o else None,
            before=blob.get("before") if blob else None,
            after=blob.get("after") if blob else None,
            client=blob.get("client") if blob else None,
            redacted=bool(v and v.get("redacted")),
            detail=e.get("detail") if isinstance(e.get("detail"), Mapping) else None,
        )

    async def mentioning(self, email: str) -> list[int]:
        """Entries not about a record whose values name *email*: subject access requests
        and exports filtered by it (found by decrypting those entries' values)."""
        entries = (
            await self._db[AUDIT]
            .find({"op": {"$in": list(_NAMING_OPS)}, "values": {"$ne": None}}, {"values": 1})
            .to_list()
        )
        ids = [e["values"] for e in entries]
        named = {
            v["_id"]
            async for v in self._db[VALUES].find({"_id": {"$in": ids}, "change": {"$ne": None}})
            if email in strings(v["change"])
        }
        return [int(e["_id"]) for e in entries if e["values"] in named]

    async def redact(
        self, record_ids: Sequence[str], actor: Actor, also: Sequence[int] = ()
    ) -> int:
        """Redact the values of every entry about *record_ids*, and of the entries *also*."""
        about = {"record": {"$in": list(record_ids)}}
        entries = (
            await self._db[AUDIT]
            .find(
                {"$or": [about, {"_id": {"$in": list(also)}}], "values": {"$ne": None}},
                {"values": 1},
            )
            .to_list()
        )
        if not entries:
            return 0
        at = now()
        seqs = sorted(int(e["_id"]) for e in entries)
        # The redaction's own entry first: every marker below names it.
        redaction = await self._writes.record_event(
            "redact", actor, at=at, detail={"redacted": seqs, "records": sorted(record_ids)}
        )
        for entry in entries:
            await self._db[VALUES].update_one(
                {"_id": entry["values"]},
                {"$set": {"redacted": True, "by": redaction, "at": at}, "$unset": {"change": ""}},
            )
        return len(entries)
