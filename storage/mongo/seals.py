"""Sealing and verifying one tenant's audit log.

Every entry and outcome carries a MAC made where it was written, under a key the database
never holds (:mod:`storage.auditmac`). **Sealing** takes the settled entries after the last
seal, in sequence order, checks each one's MAC and its outcome's, computes for each a digest
over the entry and its outcome (the entry holds only a commitment to its values, so values
can be redacted without touching it), chains the digests (``head = SHA-256(prev head ‖
digest)``), and stores a checkpoint in ``audit_seals``: the range, every digest, the previous
and new head, and an Ed25519 signature over the tenant database name, range and heads. A
checkpoint's ``_id`` is the first sequence number it covers, so two gateways sealing at once
cannot both succeed. The sealer refuses (``AuditTamperedError``) to seal an entry whose MAC
fails, or to extend a chain whose checkpoint of a head it knows (kept by the gateway in its
memory and in Redis) is gone: changed history is never sealed.

**Verifying** checks every checkpoint's signature and that they chain, then walks every
entry in order: a missing, extra, reordered or altered entry or outcome (its MAC), values
whose ciphertext no longer matches the entry's commitment, or a log that does not reach or
match a signed head kept outside the database, is reported with the first sequence number
where it shows. Entries after the last checkpoint are reported as not yet sealed.

What it cannot see: the newest entries dropped (with any checkpoint covering them) when no
head kept outside the database covers them; see the README.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.asynchronous.mongo_client import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from schema.errors import AuditTamperedError
from storage.auditmac import EntryAuthenticator, SignedHead, canonical
from storage.contract.seals import SealStore
from storage.mongo.changes import commitment
from storage.mongo.decryption import tenant_of_database, tenant_scoped
from storage.mongo.errors import MapsDriverErrors
from storage.mongo.writes import AUDIT, OUTCOMES, SEALS, VALUES, WritePath
from storage.signing import SealKey
from storage.values import VerifyReport

__all__ = ["SEALS", "MongoSeals", "entry_digest"]

_ZERO = "0" * 64
_BATCH = 1000
_FORGED_ENTRY = "the entry was changed, or not written by the gateway (its MAC does not match)"
_FORGED_OUTCOME = "the entry's outcome was changed, or not written by the gateway"


def entry_digest(entry: Mapping[str, Any], outcome: Mapping[str, Any] | None) -> str:
    settled = (
        None if outcome is None else {"outcome": outcome.get("outcome"), "at": outcome.get("at")}
    )
    return hashlib.sha256(canonical({"entry": dict(entry), "outcome": settled})).hexdigest()


def _chain(prev: str, digest: str) -> str:
    return hashlib.sha256(bytes.fromhex(prev) + bytes.fromhex(digest)).hexdigest()


def _message(db_name: str, first: int, last: int, prev: str, head: str) -> bytes:
    return f"enclave-audit-seal|{db_name}|{first}|{last}|{prev}|{head}".encode()


@tenant_scoped(tenant_of_database)
class MongoSeals(MapsDriverErrors, SealStore):
    """Seals and verifies the audit log of one tenant database.

    *client* must be one *without* automatic decryption: verification hashes the values'
    ciphertext as stored. *writes* is the handle's write path, whose entries get receipts.
    """

    def __init__(
        self,
        client: AsyncMongoClient[dict[str, Any]],
        db_name: str,
        mac: EntryAuthenticator,
        writes: WritePath,
        region: str,
    ) -> None:
        self._client = client
        self._db_name = db_name
        self._mac = mac
        self._writes = writes
        self._region = region

    @functools.cached_property
    def _db(self) -> AsyncDatabase[dict[str, Any]]:
        # Looked up when used, not with every tenant handle (sealing is a background task).
        return self._client[self._db_name]

    async def _last_seal(self) -> Mapping[str, Any] | None:
        return await self._db[SEALS].find_one({}, sort=[("_id", -1)])

    def _signed(self, key: SealKey, seal: Mapping[str, Any]) -> bool:
        first, last = seal.get("_id"), seal.get("to")
        if not isinstance(first, int) or not isinstance(last, int):
            return False
        message = _message(self._db.name, first, last, str(seal.get("prev")), str(seal.get("head")))
        signature = seal.get("signature")
        return isinstance(signature, bytes) and key.verify(
            str(seal.get("keyId")), message, signature
        )

    def _unauthentic(
        self, entry: Mapping[str, Any], outcome: Mapping[str, Any] | None
    ) -> str | None:
        if not self._mac.entry_ok(self._db.name, entry):
            return _FORGED_ENTRY
        if outcome is not None and not self._mac.outcome_ok(self._db.name, outcome):
            return _FORGED_OUTCOME
        return None

    async def _check_known(self, key: SealKey, known: Sequence[SignedHead]) -> None:
        """Every head this gateway sealed (and signed) must still have its checkpoint."""
        for head in known:
            if head.kind != "head" or head.database != self._db.name:
                continue
            if not head.verifies(key):
                continue
            seal = await self._db[SEALS].find_one({"to": head.seq})
            if seal is None or seal.get("head") != head.value or not self._signed(key, seal):
                raise AuditTamperedError(
                    head.seq, "the checkpoint of a head the gateway sealed is gone or changed"
                )

    async def seal(self, key: SealKey, known: Sequence[SignedHead] = ()) -> int:
        """Seal the settled entries after the last checkpoint; returns how many.

        ``AuditTamperedError`` if a checkpoint of a *known* head is gone, if the last
        checkpoint's signature fails, or (after sealing the entries before it) at the first
        entry or outcome whose MAC fails."""
        await self._check_known(key, known)
        last = await self._last_seal()
        if last is not None and not self._signed(key, last):
            raise AuditTamperedError(_seq(last), "the last checkpoint does not verify")
        first = 1 if last is None else int(last["to"]) + 1
        prev = _ZERO if last is None else str(last["head"])
        entries = (
            await self._db[AUDIT]
            .find({"_id": {"$gte": first, "$lt": first + _BATCH}}, sort=[("_id", 1)])
            .to_list()
        )
        outcomes = {
            o["_id"]: o
            async for o in self._db[OUTCOMES].find({"_id": {"$in": [e["_id"] for e in entries]}})
        }
        digests: list[str] = []
        head = prev
        problem: AuditTamperedError | None = None
        for expected, entry in enumerate(entries, start=first):
            # Stop at the first gap or unsettled entry: seals cover a contiguous, final range.
            if entry["_id"] != expected:
                break
            reason = self._unauthentic(entry, outcomes.get(expected))
            if reason is not None:
                problem = AuditTamperedError(expected, reason)
                break
            if expected not in outcomes:
                break
            digest = entry_digest(entry, outcomes[expected])
            digests.append(digest)
            head = _chain(head, digest)
        sealed = await self._insert(key, first, prev, head, digests) if digests else 0
        if problem is not None:
            raise problem
        return sealed

    async def _insert(
        self, key: SealKey, first: int, prev: str, head: str, digests: list[str]
    ) -> int:
        last_seq = first + len(digests) - 1
        seal = {
            "_id": first,
            "to": last_seq,
            "prev": prev,
            "head": head,
            "digests": digests,
            "keyId": key.id,
            "signature": key.sign(_message(self._db.name, first, last_seq, prev, head)),
            "at": dt.datetime.now(dt.UTC),
        }
        try:
            await self._db[SEALS].insert_one(seal)
        except DuplicateKeyError:
            return 0  # another gateway sealed this range first
        return len(digests)

    async def head(self, key: SealKey) -> SignedHead | None:
        """The last checkpoint's head, signed to be kept outside the database."""
        last = await self._last_seal()
        if last is None:
            return None
        if not self._signed(key, last):
            raise AuditTamperedError(_seq(last), "the last checkpoint does not verify")
        return SignedHead.sign(key, self._db.name, int(last["to"]), str(last["head"]))

    def receipts(self, key: SealKey) -> list[SignedHead]:
        return [
            SignedHead.sign(key, self._db.name, seq, mac, "receipt")
            for seq, mac in self._writes.written
        ]

    async def _check_seals(self, key: SealKey) -> tuple[dict[int, str], VerifyReport | None]:
        sealed: dict[int, str] = {}
        expected, prev = 1, _ZERO
        async for seal in self._db[SEALS].find({}, sort=[("_id", 1)]):
            first, last = seal.get("_id"), seal.get("to")
            digests = seal.get("digests") or []
            if first != expected or not isinstance(last, int) or last - first + 1 != len(digests):
                return sealed, _bad(expected, "a checkpoint is missing or out of place")
            if not self._signed(key, seal):
                return sealed, _bad(first, "a checkpoint's signature does not verify")
            head = prev
            for digest in digests:
                head = _chain(head, digest)
            if seal.get("prev") != prev or head != seal.get("head"):
                return sealed, _bad(first, "a checkpoint does not chain to the one before")
            sealed.update(zip(range(first, last + 1), digests, strict=True))
            expected, prev = last + 1, head
        return sealed, None

    async def verify(self, key: SealKey, heads: Sequence[SignedHead] = ()) -> VerifyReport:
        """Check the log; *heads* are signed heads kept outside the database (exported,
        or remembered by gateways), which the log must reach and match."""
        sealed, broken = await self._check_seals(key)
        if broken is not None:
            return broken
        anchors: dict[int, str] = {}  # heads kept outside: seq -> chain head
        receipts: dict[int, str] = {}  # receipts kept outside: seq -> entry MAC
        for h in heads:
            if h.database != self._db.name:
                continue
            if not h.verifies(key):
                return _bad(h.seq, f"a {h.kind} kept outside the database has a bad signature")
            (anchors if h.kind == "head" else receipts)[h.seq] = h.value
        redactions = {
            int(e["_id"]): set((e.get("detail") or {}).get("redacted") or ())
            async for e in self._db[AUDIT].find({"op": "redact"}, {"detail": 1})
        }
        sealed_through = max(sealed, default=0)
        expected, chain, chained = 1, _ZERO, True
        cursor = self._db[AUDIT].find({}, sort=[("_id", 1)], batch_size=_BATCH)
        while batch := await cursor.to_list(_BATCH):
            ids = [e["_id"] for e in batch]
            outcomes = {o["_id"]: o async for o in self._db[OUTCOMES].find({"_id": {"$in": ids}})}
            wanted = [e.get("values") for e in batch]
            values = {v["_id"]: v async for v in self._db[VALUES].find({"_id": {"$in": wanted}})}
            for entry in batch:
                problem = self._check_entry(entry, expected, sealed, outcomes, values, redactions)
                if problem is None:
                    outcome = outcomes.get(expected)
                    chained = chained and outcome is not None
                    if chained:
                        chain = _chain(chain, entry_digest(entry, outcome))
                    if expected in anchors and (not chained or anchors[expected] != chain):
                        problem = "the log does not match a head kept outside the database"
                    if expected in receipts and entry.get("mac") != receipts[expected]:
                        problem = "the entry does not match its receipt"
                if problem is not None:
                    return _bad(expected, problem, expected - 1, sealed_through)
                expected += 1
        if expected <= sealed_through:
            return _bad(expected, "an entry is missing", expected - 1, sealed_through)
        anchored = max(anchors, default=0)
        covered = max([anchored, *receipts])
        if expected <= covered:
            return _bad(
                expected,
                f"entries through {covered}, covered by a head or receipt "
                "kept outside the database, are missing",
                expected - 1,
                sealed_through,
            )
        if anchored > sealed_through:
            return _bad(
                sealed_through + 1,
                f"the checkpoints through {anchored}, whose head is kept outside the "
                "database, were removed",
                expected - 1,
                sealed_through,
            )
        checked = expected - 1
        return VerifyReport(True, checked, sealed_through, checked - sealed_through)

    def _check_entry(
        self,
        entry: Mapping[str, Any],
        expected: int,
        sealed: Mapping[int, str],
        outcomes: Mapping[Any, Mapping[str, Any]],
        values: Mapping[Any, Mapping[str, Any]],
        redactions: Mapping[int, set[int]],
    ) -> str | None:
        seq = entry["_id"]
        if seq != expected:
            if isinstance(seq, int) and seq > expected:
                return "an entry is missing"
            return f"an entry that should not be there ({seq!r})"
        unauthentic = self._unauthentic(entry, outcomes.get(seq))
        if unauthentic is not None:
            return unauthentic
        if seq in sealed and entry_digest(entry, outcomes.get(seq)) != sealed[seq]:
            return "the entry or its outcome was changed"
        if entry.get("values") is None:
            return None  # an entry with no values (a refused attempt)
        kept = values.get(entry.get("values"))
        if kept is None:
            return "the entry's values are missing"
        if kept.get("redacted"):
            if seq not in redactions.get(kept.get("by"), set()):  # type: ignore[arg-type]
                return "the entry's values were removed without a redaction entry"
        else:
            blob = kept.get("change")
            if not isinstance(blob, bytes) or commitment(blob) != entry.get("commitment"):
                return "the entry's values were changed"
        return None


def _seq(seal: Mapping[str, Any]) -> int:
    first = seal.get("_id")
    return first if isinstance(first, int) else 0


def _bad(seq: int, reason: str, checked: int = 0, sealed_through: int = 0) -> VerifyReport:
    return VerifyReport(False, checked, sealed_through, 0, first_bad=seq, reason=reason)
