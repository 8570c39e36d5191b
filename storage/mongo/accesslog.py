"""Who saw what: the access log of one tenant (``access_log``), and its login history.

Entries are appended in batches by the gateway, off the request path. They hold ids and
field names, never values; a login's IP address and user agent are encrypted under the
tenant's key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from storage.base import AccessEvent, AccessQuery
from storage.mongo.codec import FieldCodec

__all__ = ["ACCESS", "AccessLog", "ensure_access_log_indexes"]

ACCESS = "access_log"


class AccessLog:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], codec: FieldCodec) -> None:
        self._db = db
        self._codec = codec

    async def append(self, events: Sequence[AccessEvent]) -> None:
        docs = []
        for e in events:
            doc: dict[str, Any] = {
                "at": e.at,
                "kind": e.kind,
                "principal": e.principal,
                "roles": list(e.roles),
                "datasheet": e.datasheet,
                "fields": list(e.fields),
                "records": list(e.records),
                "requestId": e.request_id,
                "detail": e.detail,
            }
            # Free text from the caller (the declared purpose) and the client's IP address
            # and user agent may be personal data: encrypted, like values.
            if e.client:
                doc["client"] = await self._codec.encrypt_blob(e.client)
            if e.purpose:
                doc["purpose"] = await self._codec.encrypt_blob({"text": e.purpose})
            docs.append(doc)
        if docs:
            await self._db[ACCESS].insert_many(docs, ordered=False)

    async def page(
        self, q: AccessQuery, first: int, after: Any | None
    ) -> tuple[list[AccessEvent], bool]:
        query: dict[str, Any] = {}
        if isinstance(q.kind, tuple):
            # One plain value per branch: a field value is never an operator object.
            query["$or"] = [{"kind": kind} for kind in q.kind]
        elif q.kind is not None:
            query["kind"] = q.kind
        if q.principal is not None:
            query["principal"] = q.principal
        if q.datasheet is not None:
            query["datasheet"] = q.datasheet
        if q.record is not None:
            query["records"] = q.record
        if q.since is not None or q.until is not None:
            query["at"] = {
                **({"$gte": q.since} if q.since else {}),
                **({"$lt": q.until} if q.until else {}),
            }
        if after is not None:
            query["_id"] = {"$lt": after}
        docs = await self._db[ACCESS].find(query, sort=[("_id", -1)], limit=first + 1).to_list()
        events = [
            AccessEvent(
                id=d["_id"],
                at=d["at"],
                kind=d["kind"],
                principal=d["principal"],
                roles=tuple(d.get("roles") or ()),
                datasheet=d.get("datasheet"),
                fields=tuple(d.get("fields") or ()),
                records=tuple(d.get("records") or ()),
                purpose=d["purpose"].get("text") if isinstance(d.get("purpose"), dict) else None,
                request_id=d.get("requestId"),
                client=d.get("client") if isinstance(d.get("client"), dict) else None,
                detail=d.get("detail"),
            )
            for d in docs[:first]
        ]
        return events, len(docs) > first


async def ensure_access_log_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    await db[ACCESS].create_index("records")
    await db[ACCESS].create_index([("principal", 1), ("at", 1)])
    await db[ACCESS].create_index("kind")
