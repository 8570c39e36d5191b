"""The audited write path, without multi-document transactions.

Every change to a tenant's data goes through here, in three steps:

1. **Intent.** Insert an entry into ``audit`` with ``_id`` = the tenant's next sequence
   number and ``claim`` = ``"<collection>/<record id>/<new version>"`` under a unique index.
   Inserting under a unique index is the one primitive that is atomic on every server we
   support (FerretDB 1.x re-reads and rewrites on update, so a conditional update or an
   ``$inc`` can lose a concurrent change): the claim *is* the lock, so of many writers
   with the same expected version exactly one gets it and the rest get ``CONFLICT``.
   The entry holds the change itself, encrypted as one blob under the tenant key, so it
   can be rolled forward.
2. **Apply** the change to the record, tagged with the entry's sequence (``_seq``).
3. **Outcome.** Insert ``{_id: seq, outcome: "committed"}`` into ``audit_outcomes``
   (insert-only, like ``audit``: the gateway's database user needs no update right there).

Entries and outcomes carry a MAC under a key the database never holds
(:mod:`storage.auditmac`); the reconciler never rolls forward an entry whose MAC fails.
Records the gateway trusts for access (users, roles, API keys, settings) get a MAC of their
new state as the change is applied (:mod:`storage.documentmac`), written with the change in
one update: claims serialise a record's changes, so the state it is computed from is the
state the update replaces.

A crash can stop this anywhere. The reconciler settles every intent that has no outcome
and whose lease has run out: if the record already shows the change it is marked
committed, otherwise the change is rolled forward from the intent and then marked. So
no data change exists without an audit entry, and no entry without its change.

The server gives no ``DuplicateKeyError`` detail saying which unique index was hit (FerretDB
names only the collection), so a duplicate is told apart by looking: if an entry with our
sequence number exists, the sequence was taken and we retry with the next; if not, the
claim was taken. Entries are never deleted, so that look is conclusive.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from ulid import ULID

from schema.datasheets import DATASHEETS, Field, FieldType, Sensitivity
from schema.errors import ConflictError, EnclaveError
from storage.auditmac import EntryAuthenticator
from storage.base import Actor
from storage.documentmac import MAC_FIELD, DocumentAuthenticator
from storage.mongo.codec import FieldCodec

__all__ = ["AUDIT", "OUTCOMES", "Change", "SequenceHints", "WritePath"]

log = logging.getLogger("enclave.storage.writes")

AUDIT = "audit"
OUTCOMES = "audit_outcomes"
#: The values of each entry (before, after, the caller's IP and user agent), encrypted as
#: one blob, kept apart from the entry so that they can be redacted while the entry, which
#: holds only a commitment to them (SHA-256 of the ciphertext), stays as it was sealed.
VALUES = "audit_values"
#: Signed checkpoints of the hash chain over the entries (storage.mongo.audit).
SEALS = "audit_seals"
#: How long a writer may take between its intent and its data change before the
#: reconciler may settle the intent for it. A writer past its lease leaves the apply to
#: the reconciler rather than racing it.
LEASE = dt.timedelta(seconds=10)
_MAX_SEQUENCE_RETRIES = 64

Op = Literal["create", "update", "archive", "restore", "delete"]
_OPS = frozenset(("create", "update", "archive", "restore", "delete"))


@dataclass(slots=True)
class Change:
    """One change to one record. Values are plain (dates as ISO strings): the write path
    encrypts them for the record, and keeps them encrypted as one blob in the intent."""

    op: Op
    collection: str
    record_id: str
    version: int  # the version the record has after the change
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)  # None unsets a field
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. {"_archived": True}

    @property
    def fields(self) -> list[str]:
        return sorted(set(self.before) | set(self.after))


#: Fields that are encrypted outside the datasheets; anything undeclared is stored plain.
_OTHER_FIELDS: Mapping[str, Mapping[str, Field]] = {
    "users": {
        "email": Field("email", FieldType.EMAIL, Sensitivity.DETERMINISTIC),
        "totpSecret": Field("totpSecret", FieldType.STRING, Sensitivity.RANDOM),
    },
    # A saved report's filter may name a person (lastName = ...): kept encrypted.
    "report_definitions": {"filter": Field("filter", FieldType.STRING, Sensitivity.RANDOM)},
}


#: Collections whose records carry a MAC of their trusted fields (storage.documentmac).
_TRUSTED = frozenset(("users", "roles", "api_keys", "settings"))


def declared_fields(collection: str) -> Mapping[str, Field]:
    """The field declarations that decide how *collection*'s values are stored."""
    sheet = DATASHEETS.get(collection)
    return sheet.by_name if sheet is not None else _OTHER_FIELDS.get(collection, {})


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


def now() -> dt.datetime:
    # Mongo stores milliseconds: truncate so what we return equals what we read back.
    t = dt.datetime.now(dt.UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


class AlreadyAppliedError(Exception):
    """An update found its record no longer at the version it was claimed from."""


def _version_filter(change: Change) -> dict[str, Any]:
    # Kept on every server: FerretDB checks the filter when it reads the record, so a late
    # repeat of an applied change (two reconcilers, a stalled writer) matches nothing
    # instead of overwriting a newer version.
    return {"_id": change.record_id, "_v": change.version - 1}


def commitment(ciphertext: bytes) -> str:
    """A binding commitment to an entry's values: the hash of their ciphertext (which,
    being randomized encryption, reveals nothing about them)."""
    return hashlib.sha256(ciphertext).hexdigest()


def actor_doc(actor: Actor) -> dict[str, Any]:
    return {
        "kind": actor.kind,
        "id": actor.user_id,
        "roles": list(actor.roles),
        "requestId": actor.request_id,
    }


def client_doc(actor: Actor) -> dict[str, Any]:
    """The actor's IP address and user agent: personal data, so kept inside the encrypted blob."""
    return {"ip": actor.ip, "userAgent": actor.user_agent}


class WritePath:
    """Writes one tenant's changes with their audit entries."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        codec: FieldCodec,
        hints: SequenceHints,
        mac: EntryAuthenticator,
    ):
        self._db = db
        self._codec = codec
        self._hints = hints
        self._mac = mac
        #: Authenticates the records the gateway trusts for access (users, roles, keys...).
        self.documents = mac.sibling(DocumentAuthenticator)
        #: (sequence number, MAC) of each entry written through this handle (one request's
        #: store), for the receipts given with the answer.
        self.written: list[tuple[int, str]] = []

    def _outcome(self, seq: int, outcome: Mapping[str, Any]) -> dict[str, Any]:
        doc: dict[str, Any] = {"_id": seq, **outcome, "at": now()}
        doc["mac"] = self._mac.outcome(self._db.name, doc)
        return doc

    async def _exists(self, seq: int) -> bool:
        return await self._db[AUDIT].find_one({"_id": seq}, {"_id": 1}) is not None

    async def _max_sequence(self) -> int:
        """The highest sequence number in use, found with ``_id`` lookups only.

        Sorting the whole log is a full scan on FerretDB, so gallop forward from the last
        sealed sequence number instead, then bisect: O(log n) point lookups.
        """
        seal = await self._db[SEALS].find_one({}, {"to": 1}, sort=[("_id", -1)])
        low = int(seal["to"]) if seal else 0  # known to exist (or 0)
        step = 1
        while await self._exists(low + step):
            low, step = low + step, step * 2
        high = low + step  # known to be free
        while high - low > 1:
            mid = (low + high) // 2
            if await self._exists(mid):
                low = mid
            else:
                high = mid
        return low

    async def _insert_intent(
        self, entry: dict[str, Any], deadline: dt.datetime | None = None
    ) -> int:
        """Insert *entry* under the next free sequence number; ``ConflictError`` if its
        claim is taken.

        Writers of one tenant in this process take turns (one insert each), so they never
        race each other for a number; when a writer in another process took our number,
        we look for the end of the log again (O(log n) lookups).
        """
        audit = self._db[AUDIT]
        async with self._hints.lock(self._db.name):
            seq = self._hints.get(self._db.name) or await self._max_sequence() + 1
            for _ in range(_MAX_SEQUENCE_RETRIES):
                if deadline is not None and now() > deadline:
                    # Too late to start: the values may be collected as an orphan by now.
                    raise EnclaveError("the write waited too long to start; nothing was changed")
                entry["_id"] = seq
                entry["macKey"] = self._mac.id
                entry["mac"] = self._mac.entry(self._db.name, entry)
                try:
                    await audit.insert_one(entry)
                except DuplicateKeyError:
                    if not await self._exists(seq):
                        raise ConflictError(
                            "the record was changed by someone else; read it again and retry",
                            record=entry.get("record"),
                        ) from None
                    # Another process wrote since our last guess, maybe a lot: find the end.
                    seq = max(seq + 1, await self._max_sequence() + 1)
                    continue
                self._hints.set(self._db.name, seq + 1)
                self.written.append((seq, entry["mac"]))
                return seq
            self._hints.forget(self._db.name)
        raise EnclaveError("could not allocate an audit sequence number")

    async def _record_settled(
        self, actor: Actor, outcome: dict[str, Any], at: dt.datetime, **fields: Any
    ) -> int:
        """An entry that changes no record, inserted with its outcome at once."""
        entry: dict[str, Any] = {
            "claim": f"{fields.get('op')}/{ULID()}",
            "guard": f"unique/{ULID()}",
            "at": at,
            "leaseUntil": at,
            "actor": actor_doc(actor),
            "datasheet": None,
            "record": None,
            "version": None,
            "fields": [],
            "values": None,
            "commitment": None,
            **fields,
        }
        # With values, start no later than the lease, as a change does: the values would be
        # collected as an orphan after that.
        deadline = at + LEASE if entry.get("values") else None
        seq = await self._insert_intent(entry, deadline=deadline)
        with contextlib.suppress(DuplicateKeyError):
            await self._db[OUTCOMES].insert_one(self._outcome(seq, outcome))
        return seq

    async def record_attempt(
        self,
        operation: str,
        actor: Actor,
        code: str,
        *,
        datasheet: str | None,
        record: str | None,
        fields: list[str],
    ) -> int:
        """An entry for a mutation that was refused or failed before changing anything: who
        tried what (field names only, never values), and why."""
        return await self._record_settled(
            actor,
            {"outcome": "refused", "code": code},
            now(),
            op="attempt",
            operation=operation,
            datasheet=datasheet,
            record=record,
            fields=sorted(fields),
        )

    async def record_event(
        self,
        op: str,
        actor: Actor,
        *,
        at: dt.datetime,
        detail: dict[str, Any],
        values: Mapping[str, Any] | None = None,
        record: str | None = None,
    ) -> int:
        """An entry for an action that is not a record change (a redaction, an export...).

        *detail* is stored as is: ids, names and counts only. *values* (personal data, such
        as an export's filter) are kept like a change's values: encrypted in ``audit_values``
        with the caller's IP and user agent, the entry holding only their commitment."""
        kept: dict[str, Any] = {}
        if values is not None:
            blob = await self._codec.encrypt_blob(
                {"before": {}, "after": dict(values), "meta": {}, "client": client_doc(actor)}
            )
            values_id = str(ULID())
            await self._db[VALUES].insert_one({"_id": values_id, "change": blob})
            kept = {"values": values_id, "commitment": commitment(blob)}
        return await self._record_settled(
            actor, {"outcome": "committed"}, at, op=op, detail=detail, record=record, **kept
        )

    async def set_setting(self, record_id: str, field: str, value: Any, actor: Actor) -> None:
        """Set one field of the tenant's settings document *record_id*, audited (and, as a
        document trusted for access, sealed by :meth:`write`)."""
        doc = await self._db["settings"].find_one({"_id": record_id}, {"_v": 1, field: 1})
        await self.write(
            Change(
                op="update" if doc else "create",
                collection="settings",
                record_id=record_id,
                version=(int(doc["_v"]) if doc else 0) + 1,
                before={field: doc.get(field) if doc else None},
                after={field: value},
            ),
            actor,
        )

    async def write(
        self, change: Change, actor: Actor, *, guard: str | None = None
    ) -> tuple[int, dt.datetime]:
        """Run the three steps for *change*; returns its sequence number and time.

        Besides the ``collection/record/version`` claim, *guard* is a second unique key a
        change may take, to exclude other changes too (e.g. one that could take the last
        admin's role claims the whole admin set).
        """
        at = now()
        blob = await self._codec.encrypt_blob(
            {
                "before": change.before,
                "after": change.after,
                "meta": change.meta,
                "client": client_doc(actor),
            }
        )
        values_id = str(ULID())
        # Values first: if we crash before the intent, they are an orphan nobody points to.
        await self._db[VALUES].insert_one({"_id": values_id, "change": blob})
        entry: dict[str, Any] = {
            "claim": f"{change.collection}/{change.record_id}/{change.version}",
            # A second exclusion where one is needed (e.g. the admin set), else unique.
            "guard": guard or f"unique/{ULID()}",
            "at": at,
            "leaseUntil": at + LEASE,
            "actor": actor_doc(actor),
            "op": change.op,
            "datasheet": change.collection,
            "record": change.record_id,
            "version": change.version,
            "fields": change.fields,
            "values": values_id,
            "commitment": commitment(blob),
        }
        try:
            seq = await self._insert_intent(entry, deadline=entry["leaseUntil"])
        except ConflictError:
            await self._db[VALUES].delete_one({"_id": values_id})
            raise
        if now() > at + LEASE:
            # Too slow: the reconciler may already be rolling this intent forward.
            log.warning("write lease expired for seq %s; leaving it to the reconciler", seq)
            raise EnclaveError("the write took too long; it will be completed by the gateway")
        try:
            await self.apply(change, seq, at)
        except AlreadyAppliedError:
            # Only the reconciler can have applied our claimed change meanwhile (we passed
            # our lease): it is committed either way, and it did happen.
            pass
        except ConflictError:
            await self._record_outcome(seq, "failed")
            raise
        await self._record_outcome(seq, "committed")
        return seq, at

    async def apply(self, change: Change, seq: int, at: dt.datetime) -> None:
        """Make the record show *change*; idempotent, so the reconciler can repeat it."""
        coll = self._db[change.collection]
        declared = declared_fields(change.collection)
        if change.op == "delete":
            await coll.delete_one(_version_filter(change))
            return
        stored = {
            name: await self._codec.encrypt(declared[name], value) if name in declared else value
            for name, value in change.after.items()
            if value is not None
        }
        meta = {**change.meta, "_v": change.version, "_seq": seq, "_updated": at}
        if change.collection in _TRUSTED:
            meta[MAC_FIELD] = await self._seal(change, meta)
        if change.op == "create":
            try:
                await coll.insert_one({"_id": change.record_id, **stored, **meta, "_created": at})
            except DuplicateKeyError:
                # Applied already (by the reconciler, or before a crash) if the id is there;
                # otherwise another unique value (a user's email) is taken.
                if await coll.find_one({"_id": change.record_id}, {"_id": 1}) is None:
                    raise ConflictError("a unique value of this record is taken") from None
            return
        update: dict[str, Any] = {"$set": {**stored, **meta}}
        if unset := [name for name, value in change.after.items() if value is None]:
            update["$unset"] = dict.fromkeys(unset, "")
        result = await coll.update_one(_version_filter(change), update)
        if result.matched_count == 0:
            # The record is not at the version this change was claimed from: applied
            # already (a repeat by the reconciler), or moved on. Never overwrite it.
            raise AlreadyAppliedError

    async def _seal(self, change: Change, meta: Mapping[str, Any]) -> str:
        """The MAC of the record's state once *change* is applied (plain values: a read
        through the data client decrypts, so the MAC is checked against the same)."""
        current: Mapping[str, Any] = {}
        if change.op != "create":
            found = await self._db[change.collection].find_one({"_id": change.record_id})
            if found is None or int(found.get("_v", 0)) != change.version - 1:
                raise AlreadyAppliedError  # the update would match nothing either
            current = found
        state = {**current, **change.after, **meta}
        state = {name: value for name, value in state.items() if value is not None}
        return self.documents.seal(self._db.name, change.collection, change.record_id, state)

    async def _record_outcome(self, seq: int, outcome: str) -> None:
        with contextlib.suppress(DuplicateKeyError):  # settled already
            await self._db[OUTCOMES].insert_one(self._outcome(seq, {"outcome": outcome}))

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
            await self._record_outcome(seq, "refused")
            return
        values = await self._db[VALUES].find_one({"_id": entry.get("values")})
        blob = values.get("change") if values else None
        if not isinstance(blob, dict) or entry.get("op") not in _OPS:
            await self._record_outcome(seq, "aborted")
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
                await self.apply(change, seq, entry["at"])
            except AlreadyAppliedError:
                pass  # another reconciler, or the writer, got there first
            except ConflictError:
                await self._record_outcome(seq, "failed")
                return
        await self._record_outcome(seq, "committed")


async def ensure_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    await db[AUDIT].create_index("claim", unique=True)
    await db[AUDIT].create_index("guard", unique=True)
    await db[AUDIT].create_index("values")
    await db[AUDIT].create_index("leaseUntil")
