"""One tenant's records: reads within the caller's row scope, writes through the audit.

Reads project only the fields asked for (and decrypt only those); the row scope becomes part
of the database query. Lists page by ``_id`` (keyset), with opaque cursors.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

import pymongo
from pymongo.asynchronous.database import AsyncDatabase
from ulid import ULID

from schema.datasheets import Datasheet
from schema.errors import BadUserInputError, ConflictError, ForbiddenError, NotFoundError
from schema.roles import RowFilter
from storage.contract.records import RecordStore
from storage.mongo.changes import Change, Op
from storage.mongo.codec import FieldCodec, decode, encode
from storage.mongo.decryption import tenant_of_database, tenant_scoped
from storage.mongo.errors import MapsDriverErrors
from storage.mongo.writes import WritePath
from storage.values import Actor, Page, Record, RowScope, Value

__all__ = ["MongoRecords", "decode_cursor", "encode_cursor", "new_record_id"]

_META = {"_v": 1, "_archived": 1, "_created": 1, "_updated": 1, "_owner": 1}


def encode_cursor(record_id: str) -> str:
    return base64.urlsafe_b64encode(f"k1:{record_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    if not raw.startswith("k1:") or len(raw) > 64:
        raise BadUserInputError("malformed cursor", argument="after")
    return raw[3:]


def new_record_id() -> str:
    return str(ULID())


def _record(sheet: Datasheet, doc: Mapping[str, Any], fields: Sequence[str]) -> Record:
    return Record(
        id=doc["_id"],
        version=int(doc["_v"]),
        archived=bool(doc.get("_archived", False)),
        created_at=doc["_created"],
        updated_at=doc["_updated"],
        owner=doc.get("_owner"),
        values={name: decode(sheet.by_name[name], doc.get(name)) for name in fields},
    )


def _any_of(rows: tuple[RowFilter, ...] | None, caller: str) -> dict[str, Any]:
    if rows is None:
        return {}
    branches = [{**f.equals, **({"_owner": caller} if f.own_only else {})} for f in rows]
    if not branches:
        return {"_id": {"$in": []}}
    return branches[0] if len(branches) == 1 else {"$or": branches}


def _row_query(scope: RowScope | None) -> dict[str, Any]:
    """The row filter as part of the database query: rows outside it are never fetched."""
    if scope is None:
        return {}
    return _and(*(_any_of(rows, scope.caller) for rows in (scope.rows, *scope.also)))


def _and(*queries: dict[str, Any]) -> dict[str, Any]:
    """The conjunction of *queries*, as one flat document where their keys allow (simpler
    for the server to plan than ``$and``)."""
    merged: dict[str, Any] = {}
    rest: list[dict[str, Any]] = []
    for query in queries:
        for key, value in query.items():
            if key not in merged:
                merged[key] = value
            elif merged[key] != value:
                rest.append({key: value})
    return {"$and": [merged, *rest]} if rest else merged


@tenant_scoped(tenant_of_database)
class MongoRecords(MapsDriverErrors, RecordStore):
    """The records of one tenant database, read in the tenant's decryption scope: a value
    under any other data key is refused (``storage.mongo.decryption``)."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        codec: FieldCodec,
        writes: WritePath,
        region: str,
    ) -> None:
        self._db = db
        self._codec = codec
        self._writes = writes
        self._region = region

    # -- reads -----------------------------------------------------------------------------

    def _projection(self, sheet: Datasheet, fields: Iterable[str]) -> dict[str, int]:
        return {**_META, **{name: 1 for name in fields if name in sheet.by_name}}

    async def get(
        self,
        sheet: Datasheet,
        record_id: str,
        fields: Sequence[str],
        *,
        scope: RowScope | None = None,
    ) -> Record | None:
        query = _and({"_id": record_id}, _row_query(scope))
        doc = await self._db[sheet.name].find_one(query, self._projection(sheet, fields))
        return None if doc is None else _record(sheet, doc, fields)

    async def _equality_filter(
        self, sheet: Datasheet, equals: Mapping[str, Value]
    ) -> dict[str, Any]:
        query: dict[str, Any] = {}
        for name, value in equals.items():
            field = sheet.by_name.get(name)
            if field is None or not field.filterable:
                raise BadUserInputError(f"cannot filter {sheet.name} by {name}", field=name)
            query[name] = await self._codec.encrypt(field, encode(field, value))
        return query

    async def list_query(
        self,
        sheet: Datasheet,
        equals: Mapping[str, Value] | None,
        include_archived: bool,
        scope: RowScope | None,
        after_id: str | None = None,
    ) -> dict[str, Any]:
        """The query of a list, a stream or a count: filter, archived, row scope, keyset."""
        query: dict[str, Any] = {}
        if equals:
            query.update(await self._equality_filter(sheet, equals))
        if not include_archived:
            query["_archived"] = {"$ne": True}
        if after_id is not None:
            query["_id"] = {"$gt": after_id}
        return _and(query, _row_query(scope))

    async def page(
        self,
        sheet: Datasheet,
        fields: Sequence[str],
        *,
        first: int,
        after: str | None = None,
        equals: Mapping[str, Value] | None = None,
        include_archived: bool = False,
        scope: RowScope | None = None,
    ) -> Page:
        after_id = None if after is None else decode_cursor(after)
        query = await self.list_query(sheet, equals, include_archived, scope, after_id)
        cursor = self._db[sheet.name].find(
            query,
            self._projection(sheet, fields),
            sort=[("_id", 1)],
            limit=first + 1,
        )
        docs = await cursor.to_list(length=first + 1)
        records = [_record(sheet, doc, fields) for doc in docs[:first]]
        return Page(
            records=records,
            cursors=[encode_cursor(r.id) for r in records],
            has_next_page=len(docs) > first,
            end_cursor=encode_cursor(records[-1].id) if records else None,
        )

    async def stream(
        self,
        sheet: Datasheet,
        fields: Sequence[str],
        *,
        after: str | None = None,
        equals: Mapping[str, Value] | None = None,
        include_archived: bool = False,
        scope: RowScope | None = None,
        batch_size: int = 500,
        read_deadline: float | None = None,
    ) -> AsyncIterator[Record]:
        with pymongo.timeout(read_deadline):
            query = await self.list_query(sheet, equals, include_archived, scope, after)
            cursor = self._db[sheet.name].find(
                query,
                self._projection(sheet, fields),
                sort=[("_id", 1)],
                batch_size=batch_size,
            )
            try:
                # The driver decrypts one batch at a time: only one batch is ever held.
                async for doc in cursor:
                    yield _record(sheet, doc, fields)
            finally:
                await cursor.close()

    async def count(
        self,
        sheet: Datasheet,
        *,
        after: str | None = None,
        equals: Mapping[str, Value] | None = None,
        include_archived: bool = False,
        scope: RowScope | None = None,
        read_deadline: float | None = None,
    ) -> int:
        with pymongo.timeout(read_deadline):
            query = await self.list_query(sheet, equals, include_archived, scope, after)
            return await self._db[sheet.name].count_documents(query)

    # -- writes ----------------------------------------------------------------------------

    async def create(
        self,
        sheet: Datasheet,
        values: Mapping[str, Value],
        actor: Actor,
        *,
        scope: RowScope | None = None,
    ) -> Record:
        if scope is not None and not scope.matches(values, actor.user_id):
            raise ForbiddenError(
                f"you may not create this {sheet.singular}: it is outside the rows your role covers"
            )
        after = {
            name: encode(sheet.by_name[name], v) for name, v in values.items() if v is not None
        }
        change = Change(
            op="create",
            collection=sheet.name,
            record_id=new_record_id(),
            version=1,
            after=after,
            meta={"_archived": False, "_owner": actor.user_id},
        )
        _, at = await self._writes.write(change, actor)
        return Record(
            id=change.record_id,
            version=1,
            archived=False,
            created_at=at,
            updated_at=at,
            owner=actor.user_id,
            values={f.name: values.get(f.name) for f in sheet.fields},
        )

    async def _change(
        self,
        op: Op,
        sheet: Datasheet,
        record_id: str,
        expected_version: int,
        actor: Actor,
        *,
        fields: Sequence[str],
        scope: RowScope | None,
        values: Mapping[str, Value] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Record:
        values = values or {}
        # Fetch (and decrypt) only what the change and the answer need.
        needed = {*values, *fields, *(scope.fields if scope is not None else ())}
        query = _and({"_id": record_id}, _row_query(scope))
        doc = await self._db[sheet.name].find_one(query, self._projection(sheet, needed))
        if doc is None:
            raise NotFoundError(f"no {sheet.singular} with this id")
        if int(doc["_v"]) != expected_version:
            raise ConflictError(
                f"the {sheet.singular} is at version {doc['_v']}, not {expected_version}",
                currentVersion=int(doc["_v"]),
            )
        current = _record(sheet, doc, sorted(needed & sheet.by_name.keys()))
        merged = {**current.values, **values}
        if scope is not None and not scope.matches(merged, current.owner):
            raise ForbiddenError(
                f"this change would move the {sheet.singular} outside the rows your role covers"
            )
        after = {name: encode(sheet.by_name[name], v) for name, v in values.items()}
        change = Change(
            op=op,
            collection=sheet.name,
            record_id=record_id,
            version=expected_version + 1,
            before={name: doc.get(name) for name in after},
            after=after,
            meta=meta or {},
        )
        _, at = await self._writes.write(change, actor)
        return Record(
            id=record_id,
            version=change.version,
            archived=bool((meta or {}).get("_archived", current.archived)),
            created_at=current.created_at,
            updated_at=at,
            owner=current.owner,
            values={} if op == "delete" else {f: merged.get(f) for f in fields},
        )

    async def update(
        self,
        sheet: Datasheet,
        record_id: str,
        expected_version: int,
        values: Mapping[str, Value],
        actor: Actor,
        *,
        fields: Sequence[str] = (),
        scope: RowScope | None = None,
    ) -> Record:
        if not values:
            raise BadUserInputError("nothing to update", argument="input")
        return await self._change(
            "update",
            sheet,
            record_id,
            expected_version,
            actor,
            fields=fields,
            scope=scope,
            values=values,
        )

    async def set_archived(
        self,
        sheet: Datasheet,
        record_id: str,
        expected_version: int,
        archived: bool,
        actor: Actor,
        *,
        fields: Sequence[str] = (),
        scope: RowScope | None = None,
    ) -> Record:
        op: Op = "archive" if archived else "restore"
        return await self._change(
            op,
            sheet,
            record_id,
            expected_version,
            actor,
            fields=fields,
            scope=scope,
            meta={"_archived": archived},
        )

    async def delete(
        self,
        sheet: Datasheet,
        record_id: str,
        expected_version: int,
        actor: Actor,
        *,
        scope: RowScope | None = None,
    ) -> Record:
        return await self._change(
            "delete", sheet, record_id, expected_version, actor, fields=(), scope=scope
        )
