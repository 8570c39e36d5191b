"""Reports of one tenant: aggregates over its records, saved definitions, its k.

Two ways to aggregate, chosen by the fields (FerretDB 1.24 and MongoDB both run the
``$match``/``$group``/``$limit`` pipeline and the find used here):

- **In the database**, when every measure is a plain ``COUNT``: ``$group`` by the group-by
  fields (plaintext, or deterministic ciphertext: equal values have equal ciphertext) and the
  bucket's date field; the reply holds one document per distinct key, so only the distinct
  keys are decrypted. Dates are rolled up into their month, quarter or year here (the date
  operators differ between servers; the distinct dates are few).
- **Streamed**, when a measure reads a field (``SUM``/``AVG``/``MIN``/``MAX`` over a
  randomly encrypted field such as salary, or ``COUNT`` of a field): the records' group
  keys and measured fields come in batches of ``BATCH`` and are folded into running
  aggregates per group, so memory is one batch plus one accumulator per group. Here a
  deterministic group key is decrypted with each record (the driver decrypts whole
  replies), not once per distinct key.

FerretDB 1.24.2 runs ``$group`` in Go after reading every matching document: it keeps the
documents of each group and finds a document's group by a linear scan of the groups
(``internal/handler/common/aggregations/stages/group.go``, ``groupMap.addOrAppend``), so
there a grouped report costs O(records x groups) server time and O(records) server memory,
and answers only at the end (hence the reads' deadline, ``ReportQuery.read_deadline``).
MongoDB groups by hash.

Every reply that may hold ciphertext is read through ``_decrypting``, the one place this
module reads through the auto-decrypting client, and every method runs in the tenant's
decryption scope (``tenant_scoped``): a value under another tenant's key is never
decrypted (storage.mongo.decryption).

Saved definitions are in ``report_definitions`` (the filter encrypted: it may name a
person), the tenant's k in ``settings``; both change only through the audited write path.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pymongo
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.command_cursor import AsyncCommandCursor
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.asynchronous.database import AsyncDatabase
from ulid import ULID

from schema.datasheets import Datasheet
from schema.errors import BadUserInputError, ConflictError, DataIntegrityError, NotFoundError
from storage.contract.reports import ReportStore
from storage.mongo.changes import Change
from storage.mongo.codec import decode
from storage.mongo.decryption import tenant_of_database, tenant_scoped
from storage.mongo.errors import MapsDriverErrors
from storage.mongo.writes import WritePath, now
from storage.values import Actor, ReportGroup, ReportQuery, RowScope, SavedReport, Value

__all__ = ["BATCH", "DEFAULT_K", "DEFINITIONS", "MongoReports", "bucket_label"]

DEFINITIONS, SETTINGS = "report_definitions", "settings"
_K = "reports"  # the settings document holding the tenant's k
DEFAULT_K = 5
BATCH = 1000
#: Distinct (group-by, date) keys read from the database before buckets are rolled up.
_RAW_GROUPS = 100_000

#: Builds the ``$match`` of a list: equality filter (encrypted where stored so), archived,
#: row scope (MongoRecords.list_query).
MatchBuilder = Callable[
    [Datasheet, Mapping[str, Value] | None, bool, RowScope | None], Awaitable[dict[str, Any]]
]


def bucket_label(iso: object, unit: str) -> str | None:
    """The bucket of a stored date (``YYYY-MM-DD``): ``2024-03``, ``2024-Q1`` or ``2024``."""
    if not isinstance(iso, str) or len(iso) < 7:
        return None
    if unit == "YEAR":
        return iso[:4]
    if unit == "QUARTER":
        return f"{iso[:4]}-Q{(int(iso[5:7]) - 1) // 3 + 1}"
    return iso[:7]


@dataclass(slots=True)
class _Running:
    """A group's running aggregates: records, and per measure (values, sum, min, max)."""

    count: int = 0
    n: list[int] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    low: list[Any] = field(default_factory=list)
    high: list[Any] = field(default_factory=list)

    def add(self, values: Sequence[Any], count: int = 1) -> None:
        if not self.n:
            width = len(values)
            self.n, self.total = [0] * width, [0.0] * width
            self.low, self.high = [None] * width, [None] * width
        self.count += count
        for i, value in enumerate(values):
            if value is None:
                continue
            self.n[i] += 1
            if isinstance(value, int | float) and not isinstance(value, bool):
                self.total[i] += value
            if self.low[i] is None or value < self.low[i]:
                self.low[i] = value
            if self.high[i] is None or value > self.high[i]:
                self.high[i] = value

    def result(self, measures: Sequence[tuple[str, str | None]]) -> tuple[int | float | None, ...]:
        out: list[int | float | None] = []
        for i, (op, name) in enumerate(measures):
            n = self.n[i] if self.n else 0
            if op == "COUNT":
                out.append(self.count if name is None else n)
            elif n == 0:
                out.append(None)
            elif op == "SUM":
                out.append(_number(self.total[i]))
            elif op == "AVG":
                out.append(self.total[i] / n)
            else:
                out.append(self.low[i] if op == "MIN" else self.high[i])
        return tuple(out)


def _number(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def _too_many(limit: int) -> BadUserInputError:
    return BadUserInputError(f"a report has at most {limit} groups", field="groupBy")


@tenant_scoped(tenant_of_database)
class MongoReports(MapsDriverErrors, ReportStore):
    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        writes: WritePath,
        region: str,
        match: MatchBuilder,
    ) -> None:
        self._db = db  # auto-decrypting: read it only through _decrypting
        self._writes = writes
        self._region = region
        self._match = match

    def _decrypting(self, collection: str) -> AsyncCollection[dict[str, Any]]:
        """The one way this module reads replies that may hold ciphertext: the driver
        decrypts them, in this tenant's decryption scope only (``tenant_scoped``)."""
        return self._db[collection]

    # -- aggregates ------------------------------------------------------------------------

    async def aggregate(self, sheet: Datasheet, query: ReportQuery) -> list[ReportGroup]:
        with pymongo.timeout(query.read_deadline):
            match = await self._match(sheet, query.equals, query.include_archived, query.scope)
            if all(op == "COUNT" and name is None for op, name in query.measures):
                groups = await self._grouped(sheet, query, match)
            else:
                groups = await self._streamed(sheet, query, match)
        return [
            ReportGroup(keys=keys, count=g.count, measures=g.result(query.measures))
            for keys, g in groups.items()
        ]

    def _keys(
        self, sheet: Datasheet, query: ReportQuery, doc: Mapping[str, Any]
    ) -> tuple[Value, ...]:
        keys = [decode(sheet.by_name[name], doc.get(name)) for name in query.group_by]
        if query.bucket is not None:
            date, unit = query.bucket
            keys.append(bucket_label(doc.get(date), unit))
        return tuple(keys)

    def _fold(
        self,
        groups: dict[tuple[Value, ...], _Running],
        keys: tuple[Value, ...],
        values: Sequence[Any],
        count: int,
        limit: int,
    ) -> None:
        running = groups.get(keys)
        if running is None:
            if len(groups) >= limit:
                raise _too_many(limit)
            running = groups[keys] = _Running()
        running.add(values, count)

    async def _grouped(
        self, sheet: Datasheet, query: ReportQuery, match: dict[str, Any]
    ) -> dict[tuple[Value, ...], _Running]:
        names = [*query.group_by, *([query.bucket[0]] if query.bucket else [])]
        group = {"_id": {f"k{i}": f"${n}" for i, n in enumerate(names)}, "n": {"$sum": 1}}
        pipeline: list[dict[str, Any]] = [
            {"$match": match},
            {"$group": group},
            {"$limit": _RAW_GROUPS + 1},
        ]
        groups: dict[tuple[Value, ...], _Running] = {}
        raw = 0
        async with contextlib.aclosing(self._read(sheet.name, match, pipeline=pipeline)) as docs:
            async for doc in docs:
                raw += 1
                if raw > _RAW_GROUPS:
                    raise _too_many(query.max_groups)
                key = doc["_id"] if isinstance(doc["_id"], Mapping) else {}
                named = {n: key.get(f"k{i}") for i, n in enumerate(names)}
                keys = self._keys(sheet, query, named)
                self._fold(groups, keys, (), int(doc["n"]), query.max_groups)
        return groups

    async def _streamed(
        self, sheet: Datasheet, query: ReportQuery, match: dict[str, Any]
    ) -> dict[tuple[Value, ...], _Running]:
        measured = [(name, sheet.by_name[name]) if name else None for _, name in query.measures]
        wanted = {*query.group_by, *(n for _, n in query.measures if n), *(query.bucket or ())[:1]}
        projection = {"_id": 0, **{n: 1 for n in wanted}}
        groups: dict[tuple[Value, ...], _Running] = {}
        async with contextlib.aclosing(
            self._read(sheet.name, match, projection=projection)
        ) as docs:
            async for doc in docs:
                values = [None if m is None else decode(m[1], doc.get(m[0])) for m in measured]
                keys = self._keys(sheet, query, doc)
                running = groups.get(keys)
                if running is None:
                    self._fold(groups, keys, values, 1, query.max_groups)
                else:
                    running.add(values)
        return groups

    async def _read(
        self,
        collection: str,
        match: dict[str, Any],
        *,
        pipeline: list[dict[str, Any]] | None = None,
        projection: dict[str, int] | None = None,
    ) -> AsyncGenerator[Any, None]:
        """The documents of *pipeline*, or of a find of *match* with *projection* (a find,
        not ``$match``/``$project``: FerretDB pushes a find's filter down further)."""
        source = self._decrypting(collection)
        cursor: AsyncCommandCursor[dict[str, Any]] | AsyncCursor[dict[str, Any]]
        if pipeline is not None:
            cursor = await source.aggregate(pipeline, batchSize=BATCH)
        else:
            cursor = source.find(match, projection, batch_size=BATCH)
        try:
            async for doc in cursor:  # the driver holds (and decrypts) one batch at a time
                yield doc
        finally:
            await cursor.close()

    # -- the tenant's k --------------------------------------------------------------------

    async def minimum_group_size(self) -> int:
        doc = await self._decrypting(SETTINGS).find_one({"_id": _K})
        if doc is None:
            return DEFAULT_K
        if not self._writes.documents.verify(self._db.name, SETTINGS, doc):
            # Changed outside the gateway: no report runs on a k nobody can vouch for.
            raise DataIntegrityError("the tenant's report settings failed their integrity check")
        return int(doc["minimumGroupSize"]) if "minimumGroupSize" in doc else DEFAULT_K

    async def set_minimum_group_size(self, k: int, actor: Actor) -> None:
        await self._writes.set_setting(_K, "minimumGroupSize", k, actor)

    # -- saved definitions -----------------------------------------------------------------

    async def _doc(self, report_id: str) -> dict[str, Any] | None:
        return await self._decrypting(DEFINITIONS).find_one(
            {"_id": report_id, "_deleted": {"$ne": True}}
        )

    async def list_definitions(self) -> list[SavedReport]:
        docs = await (
            self._decrypting(DEFINITIONS)
            .find({"_deleted": {"$ne": True}}, sort=[("_id", 1)])
            .to_list(length=10_000)
        )
        return [_saved(d) for d in docs]

    async def get_definition(self, report_id: str) -> SavedReport | None:
        doc = await self._doc(report_id)
        return None if doc is None else _saved(doc)

    async def put_definition(
        self,
        report_id: str | None,
        name: str,
        definition: Mapping[str, Any],
        expected_version: int | None,
        actor: Actor,
    ) -> SavedReport:
        doc = None if report_id is None else await self._doc(report_id)
        if report_id is not None and doc is None:
            raise NotFoundError("no such report definition", field="id")
        current = 0 if doc is None else int(doc["_v"])
        if doc is not None and current != expected_version:
            raise ConflictError(
                f"the report definition is at version {current}", currentVersion=current
            )
        stored = _stored(name, definition)
        change = Change(
            op="create" if doc is None else "update",
            collection=DEFINITIONS,
            record_id=report_id or str(ULID()),
            version=current + 1,
            before={} if doc is None else {k: doc.get(k) for k in stored},
            after={**stored, "_deleted": False},
        )
        _, at = await self._writes.write(change, actor)
        return SavedReport(
            change.record_id,
            name,
            {**definition, "filter": list(definition.get("filter") or [])},
            current + 1,
            at,
        )

    async def delete_definition(
        self, report_id: str, expected_version: int, actor: Actor
    ) -> SavedReport:
        doc = await self._doc(report_id)
        if doc is None:
            raise NotFoundError("no such report definition", field="id")
        if int(doc["_v"]) != expected_version:
            raise ConflictError(
                f"the report definition is at version {doc['_v']}", currentVersion=doc["_v"]
            )
        saved = _saved(doc)
        change = Change(
            op="update",
            collection=DEFINITIONS,
            record_id=report_id,
            version=expected_version + 1,
            before={k: doc.get(k) for k in ("name", "definition", "filter")},
            after={"_deleted": True},
        )
        _, at = await self._writes.write(change, actor)
        return SavedReport(saved.id, saved.name, saved.definition, expected_version + 1, at)


def _stored(name: str, definition: Mapping[str, Any]) -> dict[str, Any]:
    """A definition as stored: its filter (which may hold personal values) apart, as JSON
    text, so the write path encrypts it; the rest names only fields and operations."""
    shape = {k: v for k, v in definition.items() if k != "filter"}
    return {
        "name": name,
        "definition": shape,
        "filter": json.dumps(definition.get("filter") or [], sort_keys=True),
    }


def _saved(doc: Mapping[str, Any]) -> SavedReport:
    text = doc.get("filter")
    if text is not None and not isinstance(text, str):  # not decrypted: never hand it on
        raise DataIntegrityError("a report definition's filter is not one this tenant wrote")
    definition = {**(doc.get("definition") or {}), "filter": json.loads(text or "[]")}
    return SavedReport(
        id=str(doc["_id"]),
        name=str(doc.get("name", "")),
        definition=definition,
        version=int(doc["_v"]),
        updated_at=doc.get("_updated") or now(),
    )
