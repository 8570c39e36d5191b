"""The detection thresholds of one tenant (a MAC'd ``settings`` document written through
the audited write path) and the count of accounts with failed sign-ins."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from storage.contract.detection import DetectionStore
from storage.incidentvalues import DetectionThresholds
from storage.mongo.credentials import FAILURES
from storage.mongo.decryption import tenant_of_database, tenant_scoped
from storage.mongo.errors import MapsDriverErrors
from storage.mongo.writes import WritePath
from storage.values import Actor

__all__ = ["MongoDetection"]

SETTINGS = "settings"
_ID, _FIELD = "detection", "thresholds"
_NAMES = frozenset(f.name for f in dataclasses.fields(DetectionThresholds))
log = logging.getLogger("enclave.storage")


@tenant_scoped(tenant_of_database)
class MongoDetection(MapsDriverErrors, DetectionStore):
    def __init__(self, db: AsyncDatabase[dict[str, Any]], writes: WritePath, region: str) -> None:
        self._db = db
        self._writes = writes
        self._region = region

    async def thresholds(self) -> DetectionThresholds:
        doc = await self._db[SETTINGS].find_one({"_id": _ID})
        if doc is None:
            return DetectionThresholds()
        if not self._writes.documents.verify(self._db.name, SETTINGS, doc):
            log.warning("detection thresholds of %s failed their integrity check", self._db.name)
            return DetectionThresholds()
        stored = doc.get(_FIELD)
        if not isinstance(stored, dict):
            return DetectionThresholds()
        return DetectionThresholds(
            **{k: int(v) for k, v in stored.items() if k in _NAMES and isinstance(v, int)}
        )

    async def set_thresholds(self, thresholds: DetectionThresholds, actor: Actor) -> None:
        await self._writes.set_setting(_ID, _FIELD, dataclasses.asdict(thresholds), actor)

    async def failed_signin_accounts(self, since: dt.datetime, *, limit: int) -> int:
        # A slot's id is ``<account>/<n>``: the account is what comes before the last "/".
        docs = self._db[FAILURES].find({"at": {"$gte": since}}, {"_id": 1}, limit=limit)
        accounts = {str(d["_id"]).rpartition("/")[0] async for d in docs}
        return len(accounts)
