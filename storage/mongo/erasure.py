"""Erasure of a data subject (right to erasure): everything about one person, by email.

Every datasheet's email fields are deterministically encrypted, so the records about a
person are found by equality on the ciphertext of their (normalised) email, in every
email field of every datasheet, archived records included. Each is deleted through the
audited write path, then the values of every audit entry about those records (their
history, and the deletions just written) are redacted, and so are the values of entries
that name the email without being about a record (subject access requests, exports
filtered by it); the erasure itself gets an entry naming the records and the redaction:
ids and counts, never the email.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from ulid import ULID

from schema.datasheets import DATASHEETS, EMAIL, Datasheet, FieldType, Sensitivity
from schema.errors import ConflictError, NotFoundError
from storage.contract.erasure import SubjectErasure
from storage.mongo.audit import MongoAudit
from storage.mongo.codec import FieldCodec
from storage.mongo.decryption import tenant_of_database, tenant_scoped
from storage.mongo.errors import MapsDriverErrors
from storage.mongo.exports import MongoExports
from storage.mongo.operations import MongoOperations
from storage.mongo.records import MongoRecords
from storage.values import Actor, ErasureReport

__all__ = ["MongoErasure"]

_ATTEMPTS = 5
#: Erasures under way: the records each is deleting, under the email's deterministic
#: ciphertext (as the records hold it), so that a rerun after a crash still redacts the
#: history of records already deleted; removed when the erasure is done.
ERASURES = "erasures"


def _searchable_email_fields(sheet: Datasheet) -> list[str]:
    return [
        f.name
        for f in sheet.fields
        if f.type is FieldType.EMAIL and f.sensitivity is Sensitivity.DETERMINISTIC
    ]


@tenant_scoped(tenant_of_database)
class MongoErasure(MapsDriverErrors, SubjectErasure):
    """Erases through the handle's other stores: the records' audited delete, the audit
    log's redaction, the exports and stored documents that name the subject."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        codec: FieldCodec,
        parts: tuple[MongoRecords, MongoAudit, MongoExports, MongoOperations],
        region: str,
    ) -> None:
        self._db = db
        self._codec = codec
        self._records, self._audit, self._exports, self._operations = parts
        self._region = region

    async def _redact(self, email: str, ids: list[str], actor: Actor) -> int:
        """Redact the entries about the records *ids* and those naming *email*."""
        also = await self._audit.mentioning(email)  # subject access requests, filtered exports
        await self._exports.forget_filtered_by(email)
        ids = [*ids, *await self._operations.forget_mentioning(email, actor)]
        return await self._audit.redact(ids, actor, also) if ids or also else 0

    async def _matching(self, sheet: Datasheet, email: str) -> dict[str, Any]:
        branches = [
            {name: await self._codec.encrypt(sheet.by_name[name], email)}
            for name in _searchable_email_fields(sheet)
        ]
        return {"$or": branches} if len(branches) > 1 else branches[0]

    async def _erase_record(
        self, sheet: Datasheet, record_id: str, version: int, actor: Actor
    ) -> None:
        """Delete one record, re-reading its version if a writer got there first."""
        for _ in range(_ATTEMPTS):
            try:
                await self._records.delete(sheet, record_id, version, actor)
                return
            except NotFoundError:
                return  # deleted meanwhile: audited by whoever did it
            except ConflictError:
                doc = await self._db[sheet.name].find_one({"_id": record_id}, {"_v": 1})
                if doc is None:
                    return
                version = int(doc["_v"])
        raise ConflictError("the records are changing too fast to erase; try again")

    async def erase(self, email: str, actor: Actor) -> ErasureReport:
        # Records an erasure that stopped before its redaction (a crash) deleted already.
        key = await self._codec.encrypt(EMAIL, email)
        found: dict[str, set[str]] = {}
        for pending in await self._db[ERASURES].find({"email": key}).to_list():
            for name, ids in pending["records"].items():
                found.setdefault(name, set()).update(ids)
        matches: dict[Datasheet, list[dict[str, Any]]] = {}
        for sheet in DATASHEETS.values():
            if _searchable_email_fields(sheet):
                query = await self._matching(sheet, email)
                matches[sheet] = await self._db[sheet.name].find(query, {"_v": 1}).to_list()
        if any(matches.values()):
            records = {s.name: sorted(str(d["_id"]) for d in docs) for s, docs in matches.items()}
            await self._db[ERASURES].insert_one(
                {"_id": str(ULID()), "email": key, "records": records}
            )
        for sheet, docs in matches.items():
            for doc in docs:
                await self._erase_record(sheet, doc["_id"], int(doc["_v"]), actor)
                found.setdefault(sheet.name, set()).add(str(doc["_id"]))
        erased = {name: sorted(ids) for name, ids in found.items() if ids}
        redacted = await self._redact(email, [i for ids in erased.values() for i in ids], actor)
        detail = {"records": erased, "auditEntriesRedacted": redacted}
        seq = await self._audit.record_event("erase", actor, detail)
        await self._db[ERASURES].delete_many({"email": key})
        return ErasureReport(records=erased, audit_entries_redacted=redacted, audit_entry=seq)
