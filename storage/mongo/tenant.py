"""One tenant's handle: every MongoDB store of one tenant database, built together once.

The stores of a handle share its write path (so the receipts of the audit entries written
through any of them are the handle's) and its field codec (the tenant's data key).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from regions.clients import RegionClient
from regions.routing import database_name
from schema.datasheets import Datasheet
from storage.auditmac import EntryAuthenticator
from storage.base import TenantStore
from storage.mongo.access_log import ACCESS_LOG_INDEXES, MongoAccessLog
from storage.mongo.api_keys import MongoApiKeys
from storage.mongo.audit import MongoAudit
from storage.mongo.blocks import MongoBlocks
from storage.mongo.codec import FieldCodec
from storage.mongo.credentials import SIGNIN_INDEXES, MongoCredentials
from storage.mongo.decryption import installed
from storage.mongo.detection import MongoDetection
from storage.mongo.documents import MongoDocuments
from storage.mongo.erasure import MongoErasure
from storage.mongo.exports import MongoExports
from storage.mongo.hints import SequenceHints
from storage.mongo.incidents import INCIDENT_INDEXES, MongoIncidents
from storage.mongo.lifecycle import MongoTermination
from storage.mongo.operations import MongoOperations
from storage.mongo.pending import PendingWork
from storage.mongo.reconcile import Reconciler
from storage.mongo.records import MongoRecords
from storage.mongo.reports import MongoReports
from storage.mongo.roles import ROLE_INDEXES, MongoRoles
from storage.mongo.seals import MongoSeals
from storage.mongo.sessions import SESSION_INDEXES, MongoSessions
from storage.mongo.setup_codes import MongoSetupCodes
from storage.mongo.users import USER_INDEXES, MongoUsers
from storage.mongo.writes import AUDIT, WritePath

__all__ = ["ensure_tenant_indexes", "tenant_indexes", "tenant_store"]


def tenant_store(
    tenant_id: str,
    region: RegionClient,
    hints: SequenceHints,
    mac: EntryAuthenticator,
    pending: PendingWork | None = None,
) -> TenantStore:
    """The handle of *tenant_id* in *region* (its id routed it there); its writes mark the
    tenant in *pending*, the region's pending-work marks."""
    db: AsyncDatabase[dict[str, Any]] = region.data[database_name(tenant_id)]
    name = region.name
    codec = FieldCodec(region.encryption, tenant_id, installed(region).keys)
    writes = WritePath(db, codec, hints, mac, None if pending is None else (pending, tenant_id))
    records = MongoRecords(db, codec, writes, name)
    audit = MongoAudit(db, writes, Reconciler(db, writes, hints, mac), name)
    exports = MongoExports(db, codec, writes, name)
    roles = MongoRoles(db, writes, name)
    operations = MongoOperations(db, writes, name)
    return TenantStore(
        tenant_id=tenant_id,
        records=records,
        exports=exports,
        audit=audit,
        seals=MongoSeals(region.plain, db.name, mac, writes, name),
        access_log=MongoAccessLog(db, codec, name),
        users=MongoUsers(db, codec, writes, name),
        roles=roles,
        api_keys=MongoApiKeys(db, writes, roles, tenant_id, name),
        credentials=MongoCredentials(db, codec, writes, name),
        sessions=MongoSessions(db, writes.documents, name),
        setup_codes=MongoSetupCodes(db, writes, name),
        incidents=MongoIncidents(db, writes, name),
        blocks=MongoBlocks(db, writes, name),
        operations=operations,
        reports=MongoReports(db, writes, name, records.list_query),
        detection=MongoDetection(db, writes, name),
        documents=MongoDocuments(db, codec, region),
        erasure=MongoErasure(db, codec, (records, audit, exports, operations), name),
        termination=MongoTermination(tenant_id, region, audit),
    )


#: The audit log's indexes (its collection is the write path's: ``storage.mongo.writes``).
AUDIT_INDEXES: dict[str, tuple[IndexModel, ...]] = {
    AUDIT: (
        IndexModel("claim", unique=True),
        IndexModel("guard", unique=True),
        IndexModel("values"),
        IndexModel("leaseUntil"),
    )
}


def tenant_indexes(sheets: Sequence[Datasheet]) -> dict[str, list[IndexModel]]:
    """The indexes of a tenant database, by collection."""
    found: dict[str, list[IndexModel]] = {}
    fixed = (AUDIT_INDEXES, USER_INDEXES, ROLE_INDEXES, ACCESS_LOG_INDEXES, INCIDENT_INDEXES)
    for part in (*fixed, SIGNIN_INDEXES, SESSION_INDEXES):
        for collection, models in part.items():
            found.setdefault(collection, []).extend(models)
    for sheet in sheets:
        filterable = [IndexModel(field.name) for field in sheet.fields if field.filterable]
        found.setdefault(sheet.name, []).extend([IndexModel("_archived"), *filterable])
    return found


async def ensure_tenant_indexes(
    db: AsyncDatabase[dict[str, Any]], sheets: Sequence[Datasheet]
) -> None:
    """The indexes of a tenant database; idempotent. One ``createIndexes`` per collection
    (each index of its own cost a round trip and, on FerretDB, a metadata write), the
    collections at once."""
    await asyncio.gather(
        *(db[name].create_indexes(models) for name, models in tenant_indexes(sheets).items())
    )
