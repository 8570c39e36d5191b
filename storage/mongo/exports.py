"""Export jobs of one tenant, and their one download each.

A job is stored in ``exports`` under its id, with its filter (which may hold personal
values, e.g. a last name) encrypted as one blob under the tenant key. Its one download is
claimed by *inserting* ``{_id: "<job id>/download"}`` into the same collection: inserting
under a unique key is the one primitive atomic on every server we support (FerretDB 1.x
applies ``findAndModify`` by reading and writing back, so two downloads could both see
the job unclaimed), so of two concurrent downloads exactly one gets it.

Starting an export and each download are audit events (``export``, ``export_download``,
``export_done``): ids, names and counts in the entry, the filter values encrypted in
``audit_values`` like a change's values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from schema.datasheets import datasheet
from schema.errors import DataIntegrityError
from storage.contract.exports import ExportStore
from storage.mongo.audit import strings
from storage.mongo.codec import FieldCodec, decode, encode
from storage.mongo.decryption import tenant_of_database, tenant_scoped
from storage.mongo.errors import MapsDriverErrors
from storage.mongo.writes import WritePath, now
from storage.values import Actor, ExportJob

__all__ = ["EXPORTS", "MongoExports"]

EXPORTS = "exports"


def _detail(job: ExportJob) -> dict[str, Any]:
    """What an audit entry says of a job: no values, only names."""
    return {
        "job": job.id,
        "datasheet": job.datasheet,
        "format": job.format,
        "fields": list(job.fields),
        "filterFields": sorted(job.equals),
        "includeArchived": job.include_archived,
        "after": job.after,
        **({"report": True} if job.report is not None else {}),
        **({"notification": dict(job.notification)} if job.notification is not None else {}),
    }


@tenant_scoped(tenant_of_database)
class MongoExports(MapsDriverErrors, ExportStore):
    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], codec: FieldCodec, writes: WritePath, region: str
    ) -> None:
        self._db = db  # an auto-decrypting client: the filter blob comes back in the clear
        self._codec = codec
        self._writes = writes
        self._region = region

    async def create(self, job: ExportJob, actor: Actor) -> None:
        # A notification list names no datasheet, and has no filter.
        plain = {k: encode(datasheet(job.datasheet).by_name[k], v) for k, v in job.equals.items()}
        await self._writes.record_event(
            "export", actor, at=now(), detail=_detail(job), values={"filter": plain}
        )
        await self._db[EXPORTS].insert_one(
            {
                "_id": job.id,
                "principalKind": job.principal_kind,
                "principal": job.principal_id,
                "datasheet": job.datasheet,
                "format": job.format,
                "fields": list(job.fields),
                "filter": await self._codec.encrypt_blob(plain),
                "includeArchived": job.include_archived,
                "after": job.after,
                "createdAt": job.created_at,
                "expiresAt": job.expires_at,
                **({"report": dict(job.report)} if job.report is not None else {}),
                **({"session": job.session} if job.session else {}),
                **({"notification": dict(job.notification)} if job.notification else {}),
            }
        )

    async def get(self, job_id: str) -> ExportJob | None:
        doc = await self._db[EXPORTS].find_one({"_id": job_id, "principal": {"$exists": True}})
        return None if doc is None else _job(doc)

    async def claim(self, job_id: str, actor: Actor) -> bool:
        job = await self.get(job_id)
        if job is None:
            return False
        try:
            await self._db[EXPORTS].insert_one({"_id": f"{job.id}/download", "at": now()})
        except DuplicateKeyError:
            return False
        await self._writes.record_event("export_download", actor, at=now(), detail=_detail(job))
        return True

    async def revoke_unused(
        self,
        principals: Sequence[str],
        job_ids: Sequence[str],
        actor: Actor,
        sessions: Sequence[str] = (),
    ) -> list[str]:
        named: list[dict[str, Any]] = [
            {"principal": {"$in": list(principals)}},
            {"_id": {"$in": list(job_ids)}},
        ]
        if sessions:
            named.append({"session": {"$in": list(sessions)}})
        where = {"$or": named}
        found = await self._db[EXPORTS].find(where, {"_id": 1, "principal": 1}).to_list()
        revoked = []
        for doc in sorted(found, key=lambda d: str(d["_id"])):
            if "principal" not in doc:
                continue  # a download claim, not a job
            try:  # the same claim a download takes: of the two, exactly one gets it
                await self._db[EXPORTS].insert_one(
                    {"_id": f"{doc['_id']}/download", "at": now(), "revoked": True}
                )
            except DuplicateKeyError:
                continue
            await self._writes.record_event(
                "export_revoke", actor, at=now(), detail={"job": doc["_id"]}, record=doc["_id"]
            )
            revoked.append(str(doc["_id"]))
        return revoked

    async def forget_filtered_by(self, email: str) -> int:
        """Delete the jobs whose filter names *email* (an erasure): their links then 404."""
        named = [
            doc["_id"]
            async for doc in self._db[EXPORTS].find({"filter": {"$ne": None}}, {"filter": 1})
            if email in strings(doc["filter"])
        ]
        if named:
            await self._db[EXPORTS].delete_many({"_id": {"$in": named}})
        return len(named)

    async def record_done(self, job: ExportJob, actor: Actor, rows: int, complete: bool) -> None:
        await self._writes.record_event(
            "export_done",
            actor,
            at=now(),
            detail={**_detail(job), "rows": rows, "complete": complete},
        )


def _job(doc: Mapping[str, Any]) -> ExportJob:
    blob = doc.get("filter")
    if blob is not None and not isinstance(blob, Mapping):
        # Not decrypted (ciphertext under no key of ours), or not what the gateway wrote
        # (plain bytes put there by hand): never handed on, never guessed at.
        raise DataIntegrityError("an export job's filter is not one this tenant wrote")
    return ExportJob(
        id=doc["_id"],
        principal_kind=doc["principalKind"],
        principal_id=doc["principal"],
        datasheet=doc["datasheet"],
        format=doc["format"],
        fields=tuple(doc["fields"]),
        equals={
            k: decode(datasheet(doc["datasheet"]).by_name[k], v) for k, v in (blob or {}).items()
        },
        include_archived=bool(doc.get("includeArchived")),
        after=doc.get("after"),
        created_at=doc["createdAt"],
        expires_at=doc["expiresAt"],
        report=doc.get("report"),
        session=doc.get("session"),
        notification=doc.get("notification"),
    )
