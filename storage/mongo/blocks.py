"""Blocked principals of one tenant (``principal_blocks``), one document per principal.

Each document (``_id`` = ``kind:id``) holds ``blockedAt`` and the ``incident`` that blocked
it, written through the audited write path with a MAC (``storage.documentmac``). Blocks are
never lifted by the gateway (a token issued after the block counts), so the database can
only lift one by editing, deleting or putting back an older version of its document; all
fail closed: a document whose MAC fails, one older than the audit log's last block of its
principal (the log is hash-chained, its heads kept outside the database), and a block the
log records with no document, block the principal :data:`FOREVER` until an admin contains
it again (a block being written is briefly stale too: refused, as it is about to be).
Forging a block can only lock a principal out, which a database insider can do anyway.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from storage.contract.blocks import FOREVER, BlockStore
from storage.mongo.changes import BLOCKS, Change
from storage.mongo.decryption import tenant_of_database, tenant_scoped
from storage.mongo.errors import MapsDriverErrors
from storage.mongo.writes import AUDIT, WritePath
from storage.values import Actor

__all__ = ["MongoBlocks"]

log = logging.getLogger("enclave.storage.blocks")


def _utc(at: dt.datetime) -> dt.datetime:
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


@tenant_scoped(tenant_of_database)
class MongoBlocks(MapsDriverErrors, BlockStore):
    def __init__(self, db: AsyncDatabase[dict[str, Any]], writes: WritePath, region: str) -> None:
        self._db = db
        self._writes = writes
        self._region = region

    async def _last_version(self, principal: str) -> int:
        entry = await self._db[AUDIT].find_one(
            {"datasheet": BLOCKS, "record": principal},
            {"version": 1},
            sort=[("version", DESCENDING)],
        )
        return 0 if entry is None else int(entry.get("version", 0))

    async def block(
        self, principals: Sequence[str], at: dt.datetime, incident: str, actor: Actor
    ) -> None:
        after = {"blockedAt": _utc(at), "incident": incident}
        for principal in dict.fromkeys(principals):
            doc = await self._db[BLOCKS].find_one({"_id": principal})
            # The audit log's version too: a document deleted or edited in the database
            # must not make this block's claim collide with an earlier one.
            version = max(await self._last_version(principal), int((doc or {}).get("_v", 0)))
            before = {} if doc is None else {k: doc.get(k) for k in ("blockedAt", "incident")}
            change = Change(
                "create" if doc is None else "update",
                BLOCKS,
                principal,
                version + 1,
                before=before,
                after={"principal": principal, **after},
            )
            await self._writes.write(change, actor)

    async def all(self) -> Mapping[str, dt.datetime]:
        # A find, not ``distinct``: FerretDB refuses the time limit a caller may set on it.
        where = {"claim": {"$regex": f"^{BLOCKS}/"}, "datasheet": BLOCKS}
        audited: dict[str, int] = {}
        async for entry in self._db[AUDIT].find(where, {"record": 1, "version": 1}):
            named, version = entry.get("record"), entry.get("version")
            if isinstance(named, str) and isinstance(version, int):
                audited[named] = max(version, audited.get(named, 0))
        found: dict[str, dt.datetime] = {}
        async for doc in self._db[BLOCKS].find({}):
            principal = str(doc.get("_id"))
            at = doc.get("blockedAt")
            valid = self._writes.documents.verify(self._db.name, BLOCKS, doc)
            # An older block put back (its MAC holds) is behind the audit log's version.
            current = int(doc.get("_v", 0)) >= audited.get(principal, 0)
            if valid and current and isinstance(at, dt.datetime):
                found[principal] = _utc(at)
            else:
                log.error("a block fails verification or is stale: blocked until contained again")
                found[principal] = FOREVER
        for named in audited.keys() - found.keys():
            log.error("a block in the audit log has no document: blocked until contained again")
            found[named] = FOREVER
        return found
