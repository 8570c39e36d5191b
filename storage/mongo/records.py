"""One tenant's records, users and write path, in its own database in its own region."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

import pymongo
from pymongo.asynchronous.database import AsyncDatabase
from ulid import ULID

from regions.clients import RegionClient
from regions.routing import database_name
from schema.datasheets import Datasheet
from schema.errors import (
    BadUserInputError,
    ConflictError,
    DataIntegrityError,
    ForbiddenError,
    NotFoundError,
)
from schema.roles import RoleDefinition, RowFilter
from storage.auditmac import EntryAuthenticator, SignedHead
from storage.base import (
    AccessEvent,
    AccessQuery,
    Actor,
    ApiKey,
    AuditEntry,
    AuditQuery,
    CredentialStore,
    ErasureReport,
    ExportJob,
    OperationStore,
    Page,
    Record,
    ReportStore,
    Role,
    RoleVersion,
    RowScope,
    TenantInfo,
    TenantStore,
    User,
    Value,
    VerifyReport,
)
from storage.mongo.access import AccessRepository, ensure_access_indexes
from storage.mongo.accesslog import AccessLog, ensure_access_log_indexes
from storage.mongo.apikeys import ApiKeyRepository
from storage.mongo.audit import AuditSealer
from storage.mongo.auditlog import AuditLog
from storage.mongo.codec import FieldCodec, decode, encode
from storage.mongo.control import ControlRecords
from storage.mongo.decryption import decrypt_blob, installed, tenant_scoped
from storage.mongo.erasure import SubjectEraser
from storage.mongo.errors import mongo_errors
from storage.mongo.exports import ExportRepository
from storage.mongo.lifecycle import TenantLifecycle
from storage.mongo.operations import MongoOperations
from storage.mongo.reports import MongoReports
from storage.mongo.signin import MongoCredentials, ensure_signin_indexes
from storage.mongo.writes import Change, Op, SequenceHints, WritePath, ensure_indexes, now
from storage.signing import SealKey

__all__ = ["MongoTenantStore", "decode_cursor", "encode_cursor", "ensure_tenant_indexes"]

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


@tenant_scoped(lambda store: store.tenant_id)
class MongoTenantStore(TenantStore):
    """The storage handle for one tenant; built only by ``MongoStore.for_tenant``.

    Every method reads in the tenant's decryption scope: a value under any other data key
    is refused (``storage.mongo.decryption``)."""

    def __init__(
        self,
        tenant_id: str,
        region: RegionClient,
        hints: SequenceHints,
        mac: EntryAuthenticator,
    ) -> None:
        self.tenant_id = tenant_id
        self._region = region
        self._db: AsyncDatabase[dict[str, Any]] = region.data[database_name(tenant_id)]
        self._codec = FieldCodec(region.encryption, tenant_id, installed(region).keys)
        self._mac = mac
        self._writes = WritePath(self._db, self._codec, hints, mac)
        self._access = AccessRepository(self._db, self._codec, self._writes)
        self._keys = ApiKeyRepository(self._db, self._writes, tenant_id)
        self._credentials = MongoCredentials(self._db, self._codec, self._writes, region.name)
        self._exports = ExportRepository(self._db, self._codec, self._writes)
        self._operations = MongoOperations(self._db, self._writes, region.name)
        self._reports = MongoReports(self._db, self._writes, region.name, self._list_query)

    @property
    def credentials(self) -> CredentialStore:
        return self._credentials

    @property
    def operations(self) -> OperationStore:
        return self._operations

    @property
    def reports(self) -> ReportStore:
        return self._reports

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
        with mongo_errors(self._region.name):
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

    async def _list_query(
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
        with mongo_errors(self._region.name):
            query = await self._list_query(sheet, equals, include_archived, scope, after_id)
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
        with mongo_errors(self._region.name), pymongo.timeout(read_deadline):
            query = await self._list_query(sheet, equals, include_archived, scope, after)
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
        with mongo_errors(self._region.name), pymongo.timeout(read_deadline):
            query = await self._list_query(sheet, equals, include_archived, scope, after)
            return await self._db[sheet.name].count_documents(query)

    async def create_export(self, job: ExportJob, actor: Actor) -> None:
        with mongo_errors(self._region.name):
            await self._exports.create(job, actor)

    async def get_export(self, job_id: str) -> ExportJob | None:
        with mongo_errors(self._region.name):
            return await self._exports.get(job_id)

    async def claim_export(self, job_id: str, actor: Actor) -> bool:
        with mongo_errors(self._region.name):
            job = await self._exports.get(job_id)
            return job is not None and await self._exports.claim(job, actor)

    async def record_export_done(
        self, job: ExportJob, actor: Actor, rows: int, complete: bool
    ) -> None:
        with mongo_errors(self._region.name):
            await self._exports.done(job, actor, rows, complete)

    async def record_event(
        self,
        op: str,
        actor: Actor,
        detail: Mapping[str, Any],
        values: Mapping[str, Any] | None = None,
    ) -> int:
        with mongo_errors(self._region.name):
            return await self._writes.record_event(
                op, actor, at=now(), detail=dict(detail), values=values
            )

    # -- writes ----------------------------------------------------------------------------

    async def _write(self, change: Change, actor: Actor) -> tuple[int, dt.datetime]:
        with mongo_errors(self._region.name):
            return await self._writes.write(change, actor)

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
        _, at = await self._write(change, actor)
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
        with mongo_errors(self._region.name):
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
        _, at = await self._write(change, actor)
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

    async def record_attempt(
        self,
        operation: str,
        actor: Actor,
        code: str,
        *,
        datasheet: str | None = None,
        record: str | None = None,
        fields: Sequence[str] = (),
    ) -> None:
        with mongo_errors(self._region.name):
            await self._writes.record_attempt(
                operation, actor, code, datasheet=datasheet, record=record, fields=list(fields)
            )

    async def audit_page(
        self,
        query: AuditQuery,
        *,
        first: int,
        after: int | None = None,
        with_values: bool = False,
    ) -> tuple[list[AuditEntry], bool]:
        with mongo_errors(self._region.name):
            return await AuditLog(self._db, self._writes).page(query, first, after, with_values)

    async def redact_audit(self, record_ids: Sequence[str], actor: Actor) -> int:
        with mongo_errors(self._region.name):
            return await AuditLog(self._db, self._writes).redact(record_ids, actor)

    async def erase_subject(self, email: str, actor: Actor) -> ErasureReport:
        async def delete(sheet: Datasheet, record_id: str, version: int) -> object:
            return await self.delete(sheet, record_id, version, actor)

        async def redact(ids: list[str]) -> int:
            log = AuditLog(self._db, self._writes)
            also = await log.mentioning(email)  # subject access requests, filtered exports
            await self._exports.forget_filtered_by(email)
            ids = [*ids, *await self._operations.forget_mentioning(email, actor)]
            return await log.redact(ids, actor, also) if ids or also else 0

        async def event(detail: dict[str, Any]) -> int:
            return await self.record_event("erase", actor, detail)

        with mongo_errors(self._region.name):
            eraser = SubjectEraser(self._db, self._codec, delete, redact, event)
            return await eraser.erase(email)

    async def request_termination(self, actor: Actor) -> TenantInfo:
        with mongo_errors(self._region.name):
            return await TenantLifecycle.terminate_in(
                ControlRecords(self._region), self.tenant_id, actor, self, "request-termination"
            )

    async def append_access(self, events: Sequence[AccessEvent]) -> None:
        with mongo_errors(self._region.name):
            await AccessLog(self._db, self._codec).append(events)

    async def access_page(
        self, query: AccessQuery, *, first: int, after: Any | None = None
    ) -> tuple[list[AccessEvent], bool]:
        with mongo_errors(self._region.name):
            return await AccessLog(self._db, self._codec).page(query, first, after)

    async def encrypt_document(self, document: Mapping[str, Any]) -> bytes:
        with mongo_errors(self._region.name):
            return bytes(await self._codec.encrypt_blob(document))

    async def decrypt_document(self, ciphertext: bytes) -> dict[str, Any]:
        with mongo_errors(self._region.name):
            value = await decrypt_blob(self._region, ciphertext)
        if not isinstance(value, dict):
            raise DataIntegrityError("a stored answer is not a document")
        return value

    def _sealer(self, key: SealKey) -> AuditSealer:
        return AuditSealer(self._region.plain[self._db.name], key, self._mac)

    async def seal_audit(self, key: SealKey, known: Sequence[SignedHead] = ()) -> int:
        with mongo_errors(self._region.name):
            return await self._sealer(key).seal(known)

    async def verify_audit(self, key: SealKey, heads: Sequence[SignedHead] = ()) -> VerifyReport:
        with mongo_errors(self._region.name):
            return await self._sealer(key).verify(heads)

    def audit_receipts(self, key: SealKey) -> list[SignedHead]:
        return self._sealer(key).receipts(self._writes.written)

    async def audit_head(self, key: SealKey) -> SignedHead | None:
        with mongo_errors(self._region.name):
            return await self._sealer(key).head()

    async def reconcile(self, *, older_than: dt.timedelta) -> int:
        with mongo_errors(self._region.name):
            settled = await self._writes.reconcile(older_than)
            await self._writes.collect_orphans()
            return settled

    async def pending_intents(self) -> int:
        with mongo_errors(self._region.name):
            return await self._writes.pending()

    # -- roles and users ---------------------------------------------------------------------

    async def create_user(
        self, email: str, roles: Sequence[str], actor: Actor, *, can_export: bool = False
    ) -> User:
        with mongo_errors(self._region.name):
            return await self._access.create_user(email, roles, actor, can_export)

    async def get_user(self, user_id: str) -> User | None:
        with mongo_errors(self._region.name):
            return await self._access.get_user(user_id)

    async def list_users(self) -> list[User]:
        with mongo_errors(self._region.name):
            return await self._access.list_users()

    async def update_user(
        self,
        user_id: str,
        expected_version: int,
        actor: Actor,
        *,
        roles: Sequence[str] | None = None,
        can_export: bool | None = None,
    ) -> User:
        with mongo_errors(self._region.name):
            return await self._access.update_user(
                user_id, expected_version, actor, roles, can_export
            )

    async def create_api_key(
        self, name: str, role: str, can_export: bool, actor: Actor
    ) -> tuple[ApiKey, str]:
        with mongo_errors(self._region.name):
            if role != "admin" and role not in {r.definition.name for r in await self.list_roles()}:
                raise BadUserInputError(f"unknown role {role!r}", field="role")
            return await self._keys.create(name, role, can_export, actor)

    async def list_api_keys(self) -> list[ApiKey]:
        with mongo_errors(self._region.name):
            return await self._keys.list()

    async def revoke_api_key(self, key_id: str, actor: Actor) -> ApiKey:
        with mongo_errors(self._region.name):
            return await self._keys.revoke(key_id, actor)

    async def check_api_key(self, key_id: str, secret: str) -> ApiKey | None:
        with mongo_errors(self._region.name):
            return await self._keys.check(key_id, secret)

    async def touch_api_key(self, key_id: str, at: dt.datetime) -> None:
        with mongo_errors(self._region.name):
            await self._keys.touch(key_id, at)

    async def list_roles(self) -> list[Role]:
        with mongo_errors(self._region.name):
            return await self._access.list_roles()

    async def put_role(
        self, definition: RoleDefinition, expected_version: int | None, actor: Actor
    ) -> Role:
        with mongo_errors(self._region.name):
            return await self._access.put_role(definition, expected_version, actor)

    async def delete_role(self, name: str, expected_version: int, actor: Actor) -> Role:
        with mongo_errors(self._region.name):
            return await self._access.delete_role(name, expected_version, actor)

    async def role_versions(self, name: str) -> list[RoleVersion]:
        with mongo_errors(self._region.name):
            return await self._access.role_versions(name)

    async def policy_version(self) -> int:
        with mongo_errors(self._region.name):
            return await self._access.policy_version()


async def ensure_tenant_indexes(
    db: AsyncDatabase[dict[str, Any]], sheets: Sequence[Datasheet]
) -> None:
    """The indexes of a tenant database; idempotent."""
    await ensure_indexes(db)
    await ensure_access_indexes(db)
    await ensure_access_log_indexes(db)
    await ensure_signin_indexes(db)
    for sheet in sheets:
        coll = db[sheet.name]
        await coll.create_index("_archived")
        for field in sheet.fields:
            if field.filterable:
                await coll.create_index(field.name)
