"""The audited write path, without multi-document transactions.

Every change to a tenant's data goes through here, in three steps:

1. **Intent.** Insert an entry into ``audit`` with ``_id`` = the tenant's next sequence
   number and ``claim`` = ``"<collection>/<record id>/<new version>"`` under a unique index:
   the one primitive atomic on every server we support (FerretDB 1.x re-reads and rewrites
   on update, so a conditional update or ``$inc`` can lose a concurrent change). The claim
   *is* the lock: of writers with the same expected version one gets it, the rest
   ``CONFLICT``. The entry holds the change, encrypted under the tenant key, to roll forward.
2. **Apply** the change to the record, tagged with the entry's sequence (``_seq``).
3. **Outcome.** Insert ``{_id: seq, outcome: "committed"}`` into ``audit_outcomes``
   (insert-only, like ``audit``: the gateway's database user needs no update right there).

Entries and outcomes carry a MAC under a key the database never holds (``storage.auditmac``);
the reconciler never rolls forward an entry whose MAC fails. Records trusted for access
(users, roles, API keys, settings) get a MAC of their new state (``storage.documentmac``)
in the change's update: claims serialise a record's changes, so it is of the state replaced.

A crash can stop this anywhere. The reconciler settles every intent with no outcome whose
lease ran out: a record that shows the change is marked committed, otherwise the change is
rolled forward from the intent, then marked. No change without its entry, nor the reverse.

A ``DuplicateKeyError`` does not say which unique index was hit (FerretDB names only the
collection), so we look: an entry with our sequence number means the sequence was taken
(retry with the next), none means the claim was; entries are never deleted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from ulid import ULID

from schema.errors import ConflictError, EnclaveError
from storage.auditmac import EntryAuthenticator
from storage.documentmac import MAC_FIELD, DocumentAuthenticator
from storage.mongo.changes import (
    TRUSTED,
    Change,
    actor_doc,
    client_doc,
    commitment,
    declared_fields,
)
from storage.mongo.codec import FieldCodec
from storage.mongo.hints import SequenceHints
from storage.mongo.pending import PendingWork
from storage.tracing import span
from storage.values import Actor

__all__ = ["AUDIT", "LEASE", "OUTCOMES", "SEALS", "VALUES", "WritePath", "now"]

log = logging.getLogger("enclave.storage.writes")

AUDIT = "audit"
OUTCOMES = "audit_outcomes"
#: The values of each entry (before, after, the caller's IP and user agent), encrypted as
#: one blob, kept apart from the entry so that they can be redacted while the entry, which
#: holds only a commitment to them (SHA-256 of the ciphertext), stays as it was sealed.
VALUES = "audit_values"
#: Signed checkpoints of the hash chain over the entries (storage.mongo.seals).
SEALS = "audit_seals"
#: How long a writer may take between its intent and its data change before the
#: reconciler may settle the intent for it. A writer past its lease leaves the apply to
#: the reconciler rather than racing it.
LEASE = dt.timedelta(seconds=10)
_MAX_SEQUENCE_RETRIES = 64


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


class WritePath:
    """Writes one tenant's changes with their audit entries."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        codec: FieldCodec,
        hints: SequenceHints,
        mac: EntryAuthenticator,
        marks: tuple[PendingWork, str] | None = None,
    ):
        self._db = db
        self._codec = codec
        self._hints = hints
        self._mac = mac
        #: The region's pending-work marks and this tenant's id: marked before each intent.
        self._marks = marks
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
                if self._marks is not None:
                    # Right before the intent: a crash between them leaves a mark, never
                    # an intent the background work is not told about.
                    await self._marks[0].mark(self._marks[1], now())
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
        # The entry's kind (attempt, export, redact ...): a name fixed in the code.
        with span("audit.write", {"enclave.op": str(entry["op"])}):
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
        # A datasheet name and an operation (create, update ...): schema names.
        with span("audit.write", {"enclave.datasheet": change.collection, "enclave.op": change.op}):
            return await self._write(change, actor, guard)

    async def _write(
        self, change: Change, actor: Actor, guard: str | None
    ) -> tuple[int, dt.datetime]:
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
            await self.record_outcome(seq, "failed")
            raise
        await self.record_outcome(seq, "committed")
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
        if change.collection in TRUSTED:
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

    async def record_outcome(self, seq: int, outcome: str) -> None:
        """Settle *seq* with *outcome*, unless it is settled already."""
        with contextlib.suppress(DuplicateKeyError):  # settled already
            await self._db[OUTCOMES].insert_one(self._outcome(seq, {"outcome": outcome}))
