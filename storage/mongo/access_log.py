"""Who saw what: the access log of one tenant (``access_log``), and its login history.

Entries are appended in batches by the gateway, off the request path. They hold ids and
field names, never values; a login's IP address and user agent are encrypted under the
tenant's key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from storage.contract.access_log import AccessLogStore
from storage.mongo.codec import FieldCodec
from storage.mongo.decryption import tenant_of_database, tenant_scoped
from storage.mongo.errors import MapsDriverErrors
from storage.values import AccessEvent, AccessQuery

__all__ = ["ACCESS", "ACCESS_LOG_INDEXES", "MongoAccessLog"]

ACCESS = "access_log"


@tenant_scoped(tenant_of_database)
class MongoAccessLog(MapsDriverErrors, AccessLogStore):
    def __init__(self, db: AsyncDatabase[dict[str, Any]], codec: FieldCodec, region: str) -> None:
        self._db = db
        self._codec = codec
        self._region = region

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
                **({"session": e.session} if e.session else {}),
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
        self, query: AccessQuery, *, first: int, after: Any | None = None
    ) -> tuple[list[AccessEvent], bool]:
        where: dict[str, Any] = {}
        if isinstance(query.kind, tuple):
            # One plain value per branch: a field value is never an operator object.
            where["$or"] = [{"kind": kind} for kind in query.kind]
        elif query.kind is not None:
            where["kind"] = query.kind
        if query.principal is not None:
            where["principal"] = query.principal
        if query.datasheet is not None:
            where["datasheet"] = query.datasheet
        if query.record is not None:
            where["records"] = query.record
        if query.session is not None:
            where["session"] = query.session
        if query.job is not None:
            where["detail.job"] = query.job
        if query.since is not None or query.until is not None:
            where["at"] = {
                **({"$gte": query.since} if query.since else {}),
                **({"$lt": query.until} if query.until else {}),
            }
        if after is not None:
            where["_id"] = {"$lt": after}
        docs = await self._db[ACCESS].find(where, sort=[("_id", -1)], limit=first + 1).to_list()
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
                session=d.get("session"),
            )
            for d in docs[:first]
        ]
        return events, len(docs) > first


ACCESS_LOG_INDEXES: dict[str, tuple[IndexModel, ...]] = {
    ACCESS: (
        IndexModel("records"),
        IndexModel([("principal", 1), ("at", 1)]),
        IndexModel("kind"),
        IndexModel([("session", 1), ("at", 1)]),
        IndexModel("at"),  # a tenant's last hour (gateway.detection)
    )
}
