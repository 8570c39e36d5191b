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

from collections.abc import Awaitable, Callable
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from ulid import ULID

from schema.datasheets import DATASHEETS, EMAIL, Datasheet, FieldType, Sensitivity
from schema.errors import ConflictError, NotFoundError
from storage.base import ErasureReport
from storage.mongo.codec import FieldCodec

__all__ = ["SubjectEraser"]

#: Deletes one record at a version (the tenant store's audited delete).
Delete = Callable[[Datasheet, str, int], Awaitable[object]]
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


class SubjectEraser:
    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        codec: FieldCodec,
        delete: Delete,
        redact: Callable[[list[str]], Awaitable[int]],
        event: Callable[[dict[str, Any]], Awaitable[int]],
    ) -> None:
        self._db = db
        self._codec = codec
        self._delete = delete
        self._redact = redact
        self._event = event

    async def _matching(self, sheet: Datasheet, email: str) -> dict[str, Any]:
        branches = [
            {name: await self._codec.encrypt(sheet.by_name[name], email)}
            for name in _searchable_email_fields(sheet)
        ]
        return {"$or": branches} if len(branches) > 1 else branches[0]

    async def _erase_record(self, sheet: Datasheet, record_id: str, version: int) -> None:
        """Delete one record, re-reading its version if a writer got there first."""
        for _ in range(_ATTEMPTS):
            try:
                await self._delete(sheet, record_id, version)
                return
            except NotFoundError:
                return  # deleted meanwhile: audited by whoever did it
            except ConflictError:
                doc = await self._db[sheet.name].find_one({"_id": record_id}, {"_v": 1})
                if doc is None:
                    return
                version = int(doc["_v"])
        raise ConflictError("the records are changing too fast to erase; try again")

    async def erase(self, email: str) -> ErasureReport:
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
                await self._erase_record(sheet, doc["_id"], int(doc["_v"]))
                found.setdefault(sheet.name, set()).add(str(doc["_id"]))
        erased = {name: sorted(ids) for name, ids in found.items() if ids}
        redacted = await self._redact([i for ids in erased.values() for i in ids])
        seq = await self._event({"records": erased, "auditEntriesRedacted": redacted})
        await self._db[ERASURES].delete_many({"email": key})
        return ErasureReport(records=erased, audit_entries_redacted=redacted, audit_entry=seq)
