"""Registered GraphQL documents of one tenant (persisted operations) and its allow-list
mode. Documents are keyed by the hex SHA-256 of their text and hold no personal data (the
gateway refuses documents with values: gateway.storeddocuments), so they are stored plain;
registering one and switching the mode go through the audited write path. A document
stored before that rule that names a data subject is deleted by their erasure.
"""

from __future__ import annotations

import contextlib
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from schema.errors import ConflictError
from storage.contract.operations import OperationStore
from storage.mongo.changes import Change
from storage.mongo.decryption import tenant_of_database, tenant_scoped
from storage.mongo.errors import MapsDriverErrors
from storage.mongo.writes import WritePath
from storage.values import Actor

__all__ = ["OPERATIONS", "MongoOperations"]

OPERATIONS, SETTINGS = "operations", "settings"
_MODE = "operations"  # the settings document of the allow-list mode


@tenant_scoped(tenant_of_database)
class MongoOperations(MapsDriverErrors, OperationStore):
    def __init__(self, db: AsyncDatabase[dict[str, Any]], writes: WritePath, region: str) -> None:
        self._db = db
        self._writes = writes
        self._region = region

    async def document(self, digest: str) -> str | None:
        doc = await self._db[OPERATIONS].find_one({"_id": digest}, {"document": 1})
        return str(doc["document"]) if doc else None

    async def register(self, digest: str, document: str, actor: Actor) -> bool:
        if await self.document(digest) is not None:
            return False
        change = Change(
            op="create",
            collection=OPERATIONS,
            record_id=digest,
            version=1,
            before={"document": None},
            after={"document": document},
        )
        try:
            await self._writes.write(change, actor)
        except ConflictError:
            return False  # registered by a concurrent request
        return True

    async def forget_mentioning(self, email: str, actor: Actor) -> list[str]:
        """Delete (audited, without the text) every stored document that names *email*;
        their ids, whose audit entries' values the erasure then redacts."""
        needle = email.lower()
        docs = await self._db[OPERATIONS].find({}, {"document": 1, "_v": 1}).to_list()
        forgotten: list[str] = []
        for doc in docs:
            if needle not in str(doc.get("document", "")).lower():
                continue
            change = Change(
                op="delete",
                collection=OPERATIONS,
                record_id=str(doc["_id"]),
                version=int(doc.get("_v", 1)) + 1,
            )
            with contextlib.suppress(ConflictError):  # deleted meanwhile
                await self._writes.write(change, actor)
            forgotten.append(str(doc["_id"]))
        return forgotten

    async def allow_list(self) -> bool:
        doc = await self._db[SETTINGS].find_one({"_id": _MODE})
        if doc is not None and not self._writes.documents.verify(self._db.name, SETTINGS, doc):
            return True  # changed outside the gateway: the stricter mode holds
        return bool(doc and doc.get("allowList"))

    async def set_allow_list(self, enabled: bool, actor: Actor) -> None:
        await self._writes.set_setting(_MODE, "allowList", enabled, actor)
