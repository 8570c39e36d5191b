"""Changes made in the MongoDB databases behind the store's back, as someone with database
access could: a covered field of a document, an audit entry, a checkpoint's head."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from regions.routing import database_name
from storage.base import Store
from storage.incidentvalues import Compromised
from storage.mongo.control import CONTROL_DB, TENANTS
from storage.mongo.exports import EXPORTS
from storage.mongo.incidents import KEYS, open_key
from storage.mongo.store import MongoStore
from storage.mongo.writes import AUDIT, SEALS
from tests.contract.tamper import DocumentKind, Tamper

__all__ = ["MongoTamper"]


class MongoTamper(Tamper):
    def __init__(self, store: MongoStore) -> None:
        self._store = store

    @classmethod
    def of(cls, store: Store) -> MongoTamper:
        return cls(MongoStore.of(store))

    def _collection(self, tenant_id: str, name: str) -> AsyncCollection[dict[str, Any]]:
        client = self._store.registry.for_tenant(tenant_id).plain
        return client[database_name(tenant_id)][name]

    async def document(self, tenant_id: str, kind: DocumentKind, doc_id: str) -> None:
        if kind == "control":
            control = self._store.registry.for_tenant(tenant_id).plain[CONTROL_DB][TENANTS]
            changed = await control.update_one({"_id": doc_id}, {"$set": {"name": "Forged"}})
        else:  # every other trusted document's MAC covers its version
            collection = self._collection(tenant_id, kind)
            changed = await collection.update_one({"_id": doc_id}, {"$inc": {"_v": 1}})
        assert changed.modified_count == 1, f"no {kind} document {doc_id!r}"

    async def drop_document(self, tenant_id: str, kind: DocumentKind, doc_id: str) -> None:
        dropped = await self._collection(tenant_id, kind).delete_one({"_id": doc_id})
        assert dropped.deleted_count == 1, f"no {kind} document {doc_id!r}"

    async def copy_document(self, tenant_id: str, kind: DocumentKind, doc_id: str) -> Any:
        found = await self._collection(tenant_id, kind).find_one({"_id": doc_id})
        assert found is not None, f"no {kind} document {doc_id!r}"
        return found

    async def put_back(self, tenant_id: str, kind: DocumentKind, copy: Any) -> None:
        await self._collection(tenant_id, kind).replace_one({"_id": copy["_id"]}, copy)

    async def detection_thresholds(self, tenant_id: str, name: str, value: int) -> None:
        settings = self._collection(tenant_id, "settings")
        changed = await settings.update_one(
            {"_id": "detection"}, {"$set": {f"thresholds.{name}": value}}
        )
        assert changed.modified_count == 1, "no detection thresholds"

    async def incident_claim(
        self,
        tenant_id: str,
        rule: str,
        compromised: Sequence[Compromised],
        incident: str | None,
        at: dt.datetime,
    ) -> None:
        key = open_key(rule, compromised)
        claim = {"key": key, "gen": 0, "incident": incident, "at": at}
        await self._collection(tenant_id, KEYS).replace_one({"_id": f"{key}/0"}, claim, upsert=True)

    async def audit_entry(self, tenant_id: str, seq: int) -> None:
        entries = self._collection(tenant_id, AUDIT)
        changed = await entries.update_one({"_id": seq}, {"$set": {"op": "forged"}})
        assert changed.modified_count == 1, f"no audit entry {seq}"

    async def last_checkpoint(self, tenant_id: str) -> None:
        seals = self._collection(tenant_id, SEALS)
        last = await seals.find_one({}, sort=[("_id", -1)])
        assert last is not None, "no checkpoint"
        await seals.update_one({"_id": last["_id"]}, {"$set": {"head": "0" * 64}})

    async def copy_export_filter(self, source: tuple[str, str], target: tuple[str, str]) -> None:
        found = await self._collection(source[0], EXPORTS).find_one({"_id": source[1]})
        assert found is not None, f"no export job {source[1]!r}"
        jobs = self._collection(target[0], EXPORTS)
        changed = await jobs.update_one({"_id": target[1]}, {"$set": {"filter": found["filter"]}})
        assert changed.modified_count == 1, f"no export job {target[1]!r}"

    async def plain_export_filter(self, tenant_id: str, job_id: str) -> None:
        jobs = self._collection(tenant_id, EXPORTS)
        changed = await jobs.update_one({"_id": job_id}, {"$set": {"filter": b"not ciphertext"}})
        assert changed.modified_count == 1, f"no export job {job_id!r}"
