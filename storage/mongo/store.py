"""``MongoStore``: every tenant of every region, and tenant provisioning.

Control data (``enclave_control.tenants``) and the key vault (``encryption.__keyVault``)
live on each region's own cluster: an EU tenant's control record and data key are on the
EU cluster only, like its data.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from bson.binary import Binary
from cachetools import Cache
from pymongo.errors import DuplicateKeyError

from regions.clients import KEY_VAULT_NAMESPACE, RegionRegistry
from regions.countries import RegionName, region_for_country
from regions.routing import database_name, new_tenant_id
from schema.datasheets import DATASHEETS
from schema.errors import BadUserInputError, EnclaveError
from storage.auditmac import EntryAuthenticator
from storage.base import Store, TenantStore
from storage.caches import TENANT_CACHE_SIZE
from storage.contract.keys import MasterKeys
from storage.contract.lifecycle import TenantLifecycle
from storage.documentmac import MAC_FIELD, DocumentAuthenticator
from storage.mongo.control import CONTROL_DB, TENANTS, tenant_info
from storage.mongo.decryption import install, installed, key_binding
from storage.mongo.errors import MapsDriverErrors
from storage.mongo.hints import SequenceHints
from storage.mongo.keys import MongoMasterKeys
from storage.mongo.lifecycle import SETTLE, MongoLifecycle
from storage.mongo.pending import WORKS, PendingWork, ensure_pending_indexes
from storage.mongo.tenant import ensure_tenant_indexes, tenant_store
from storage.mongo.writes import LEASE
from storage.values import OPERATOR, TenantInfo, User

__all__ = ["CONTROL_DB", "MongoStore"]


class MongoStore(MapsDriverErrors, Store):
    """The store over a registry of regions. A call's errors name the region it is about:
    its ``region`` argument or its ``tenant_id``'s (``MapsDriverErrors``)."""

    def __init__(
        self,
        regions: RegionRegistry,
        audit_mac: EntryAuthenticator,
        *,
        on_integrity_error: Callable[[str], None] | None = None,
        on_document_refused: Callable[[str], None] | None = None,
        cache_size: int = TENANT_CACHE_SIZE,
    ) -> None:
        """*audit_mac* authenticates audit entries, and the documents trusted for access with
        a key derived from the same secret (``storage.documentmac``); *on_integrity_error* is
        told the region of every reply refused because it holds a value under another key
        than the reading tenant's, *on_document_refused* the kind of every document refused
        because its MAC fails (metrics); *cache_size* is how many tenants each of its
        per-tenant caches holds (:mod:`storage.caches`)."""
        self.registry = regions
        self._indexed: set[RegionName] = set()  # regions whose control indexes are made
        self.hints = SequenceHints(cache_size)
        self._pending = {name: PendingWork(regions[name]) for name in regions}
        self._mac = audit_mac
        self.documents = audit_mac.sibling(DocumentAuthenticator)
        if on_document_refused is not None:
            self.documents.on_refused = on_document_refused
        for region in regions.values():
            install(region, self.documents, on_integrity_error, cache_size)
        self._keys = MongoMasterKeys(regions, self.documents, lambda t: self.for_tenant(t).audit)

    @classmethod
    def of(cls, store: Store) -> MongoStore:
        """*store* as the MongoDB store it is (for tests and benchmarks that look inside)."""
        if not isinstance(store, cls):
            raise TypeError(f"not a MongoDB store: {type(store).__name__}")
        return store

    @property
    def regions(self) -> tuple[RegionName, ...]:
        return tuple(self.registry)

    @property
    def keys(self) -> MasterKeys:
        return self._keys

    def lifecycle(
        self,
        *,
        settle: dt.timedelta | None = None,
        forget: Callable[[str], Awaitable[None]] | None = None,
    ) -> TenantLifecycle:
        return MongoLifecycle(
            self, self.registry, settle=SETTLE if settle is None else settle, forget=forget
        )

    def _sealed(self, record: dict[str, Any]) -> dict[str, Any]:
        return self.documents.sealed(database_name(record["_id"]), "control", record)

    def _valid(self, record: dict[str, Any] | None) -> bool:
        """Whether a control record was written by a gateway or the CLI (its MAC verifies)."""
        if record is None:
            return False
        return self.documents.verify(database_name(record["_id"]), "control", record)

    def for_tenant(self, tenant_id: str) -> TenantStore:
        region = self.registry.for_tenant(tenant_id)
        return tenant_store(tenant_id, region, self.hints, self._mac, self._pending[region.name])

    async def _ensure_region_indexes(self, region: RegionName) -> None:
        """The indexes of *region*'s key vault and control data, once per store."""
        if region in self._indexed:
            return
        client = self.registry[region].plain
        vault_db, vault_coll = KEY_VAULT_NAMESPACE.split(".", 1)
        # A plain unique index: FerretDB 1.x rejects the partial one MongoDB recommends.
        await client[vault_db][vault_coll].create_index("keyAltNames", unique=True)
        await client[CONTROL_DB][TENANTS].create_index("status")
        # purge-due finds the terminated tenants whose date has come through this index.
        await client[CONTROL_DB][TENANTS].create_index("purgeDueAt")
        await ensure_pending_indexes(self._pending[region].marks)
        self._indexed.add(region)

    async def create_tenant(
        self, name: str, country: str, admin_email: str
    ) -> tuple[TenantInfo, User]:
        name = name.strip()
        if not 1 <= len(name) <= 200:
            raise BadUserInputError("a tenant name has 1 to 200 characters", field="name")
        region = region_for_country(country)
        return await self.provision(region, name, country, admin_email)

    async def provision(
        self, region: RegionName, name: str, country: str, admin_email: str
    ) -> tuple[TenantInfo, User]:
        """Create a tenant in *region* (its country's, checked by :meth:`create_tenant`)."""
        tenant_id = new_tenant_id(region)
        client = self.registry[region]
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        await self._ensure_region_indexes(region)
        control = client.plain[CONTROL_DB][TENANTS]
        record = {
            "_id": tenant_id,
            "name": name,
            "country": country.strip().upper(),
            "region": region,
            "status": "provisioning",
            "createdAt": now,
        }
        await control.insert_one(self._sealed(record))
        # Its data key and its database's indexes do not depend on each other: made at once.
        key_id, _ = await asyncio.gather(
            self._data_key(region, tenant_id),
            ensure_tenant_indexes(client.data[database_name(tenant_id)], list(DATASHEETS.values())),
        )
        admin = await self.for_tenant(tenant_id).users.create(admin_email, ["admin"], OPERATOR)
        active = self._sealed({**record, "status": "active"})
        await control.update_one(
            {"_id": tenant_id},
            {"$set": {"status": "active", "keyId": key_id, MAC_FIELD: active[MAC_FIELD]}},
        )
        info = TenantInfo(tenant_id, name, country.strip().upper(), region, "active", now)
        return info, admin

    async def _data_key(self, region: RegionName, tenant_id: str) -> Binary:
        """A new data key for *tenant_id*, bound to it in its control record (``keyMac``)."""
        client = self.registry[region]
        try:
            key_id = await client.encryption.create_data_key(
                client.wrapping_provider,
                master_key=client.master_key,
                key_alt_names=[tenant_id],
            )
        except DuplicateKeyError:  # pragma: no cover - ULIDs do not repeat
            raise EnclaveError("data key exists for a new tenant id") from None
        # Binds the tenant to its key: a key alt name rewritten in the vault fails it.
        binding = key_binding(tenant_id, key_id.as_uuid().bytes)
        key_mac = self.documents.seal(database_name(tenant_id), "data_key", tenant_id, binding)
        control = client.plain[CONTROL_DB][TENANTS]
        await control.update_one({"_id": tenant_id}, {"$set": {"keyMac": key_mac}})
        installed(client).keys.remember(tenant_id, key_id.as_uuid().bytes)
        return key_id

    async def get_tenant(self, tenant_id: str) -> TenantInfo | None:
        # With the key id the tenant's first read will need (KeyIds), in one round trip.
        doc = await installed(self.registry.for_tenant(tenant_id)).keys.control_record(tenant_id)
        # A record changed in the database is no tenant: every request for it is refused.
        return tenant_info(doc) if doc is not None and self._valid(doc) else None

    async def list_tenants(self, region: RegionName | None = None) -> list[TenantInfo]:
        if region is None:
            return [t for name in self.registry for t in await self.list_tenants(name)]
        control = self.registry[region].plain[CONTROL_DB][TENANTS]
        found = control.find({}, sort=[("_id", 1)])
        return [tenant_info(doc) async for doc in found if self._valid(doc)]

    async def pending_tenants(self, region: RegionName, work: str) -> list[str]:
        return await self._pending[region].tenants(_work(work))

    async def mark_pending(self, tenant_id: str) -> None:
        region = self.registry.for_tenant(tenant_id).name
        await self._pending[region].mark(tenant_id, dt.datetime.now(dt.UTC), remembered=False)

    async def clear_pending(self, tenant_id: str, work: str, started: dt.datetime) -> int:
        region = self.registry.for_tenant(tenant_id).name
        return await self._pending[region].clear(tenant_id, _work(work), started - LEASE)

    async def ping(self, region: RegionName) -> None:
        client = self.registry[region]
        await client.plain.admin.command("ping")
        await client.data.admin.command("ping")

    def caches(self) -> dict[str, Cache[Any, Any]]:
        found: dict[str, Cache[Any, Any]] = {
            "audit_next_sequence": self.hints.next,
            "audit_settled": self.hints.settled_at,
            "audit_orphans_checked": self.hints.orphans,
        }
        for name, region in self.registry.items():
            found[f"data_key_ids_{name}"] = installed(region).keys.ids
        return found

    async def aclose(self) -> None:
        await self.registry.aclose()


def _work(work: str) -> str:
    if work not in WORKS:
        raise ValueError(f"no such background work: {work!r}")
    return work
