"""Blocked principals of one tenant (``principal_blocks``), one document per principal.

Each document (``_id`` = ``kind:id``) holds ``blockedAt`` and the ``incident`` that blocked
it, written through the audited write path with a MAC (``storage.documentmac``). Blocks are
never lifted by the gateway (a token issued after the block counts), so the database can
only lift one by editing, deleting or putting back an older version of its document. An
edited document (its MAC fails) blocks the principal :data:`FOREVER` until an admin
contains it again; deleted and rolled-back ones are caught outside the database, where the
gateway keeps every block too (Redis, :mod:`resolvers.authz.policycache`). Forging a block
can only lock a principal out, which a database insider can do anyway.
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
        # The documents only: reading the audit log here would scan it on servers without
        # its index (FerretDB: 1.5 s at 20,000 entries) at every policy reload. Deleted or
        # rolled-back documents are the gateway's to catch: it keeps the blocks in Redis too
        # (resolvers.authz.policycache), outside the database.
        found: dict[str, dt.datetime] = {}
        async for doc in self._db[BLOCKS].find({}):
            principal = str(doc.get("_id"))
            at = doc.get("blockedAt")
            if self._writes.documents.verify(self._db.name, BLOCKS, doc) and isinstance(
                at, dt.datetime
            ):
                found[principal] = _utc(at)
            else:
                log.error("a block fails verification: blocked until contained again")
                found[principal] = FOREVER
        return found
