"""``MongoStore``: every tenant of every region, and tenant provisioning.

Control data (``enclave_control.tenants``) and the key vault (``encryption.__keyVault``)
live on each region's own cluster: an EU tenant's control record and data key are on the
EU cluster only, like its data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from pymongo.errors import DuplicateKeyError

from regions.clients import KEY_VAULT_NAMESPACE, RegionRegistry
from regions.countries import RegionName, region_for_country
from regions.routing import database_name, new_tenant_id, region_of, validate_tenant_id
from schema.datasheets import DATASHEETS
from schema.errors import BadUserInputError, EnclaveError
from storage.auditmac import EntryAuthenticator
from storage.base import Actor, Store, TenantInfo, TenantStore, User
from storage.mongo.control import CONTROL_DB, TENANTS, tenant_info
from storage.mongo.decryption import install
from storage.mongo.errors import mongo_errors
from storage.mongo.records import MongoTenantStore, ensure_tenant_indexes
from storage.mongo.writes import SequenceHints

__all__ = ["CONTROL_DB", "MongoStore"]


class MongoStore(Store):
    """The store over a registry of regions."""

    def __init__(
        self,
        regions: RegionRegistry,
        audit_mac: EntryAuthenticator,
        *,
        on_integrity_error: Callable[[str], None] | None = None,
    ) -> None:
        """*audit_mac* authenticates audit entries; *on_integrity_error* is told the region of
        every reply refused because it holds a value under another key than the reading
        tenant's (a metric)."""
        self.regions = regions
        self._hints = SequenceHints()
        self._mac = audit_mac
        for region in regions.values():
            install(region, on_integrity_error)

    def for_tenant(self, tenant_id: str) -> TenantStore:
        return MongoTenantStore(
            tenant_id, self.regions.for_tenant(tenant_id), self._hints, self._mac
        )

    async def _ensure_region_indexes(self, region: RegionName) -> None:
        client = self.regions[region].plain
        vault_db, vault_coll = KEY_VAULT_NAMESPACE.split(".", 1)
        # A plain unique index: FerretDB 1.x rejects the partial one MongoDB recommends.
        await client[vault_db][vault_coll].create_index("keyAltNames", unique=True)
        await client[CONTROL_DB][TENANTS].create_index("status")

    async def create_tenant(
        self, name: str, country: str, admin_email: str
    ) -> tuple[TenantInfo, User]:
        name = name.strip()
        if not 1 <= len(name) <= 200:
            raise BadUserInputError("a tenant name has 1 to 200 characters", field="name")
        region = region_for_country(country)
        tenant_id = new_tenant_id(region)
        client = self.regions[region]
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        with mongo_errors(region):
            await self._ensure_region_indexes(region)
            control = client.plain[CONTROL_DB][TENANTS]
            await control.insert_one(
                {
                    "_id": tenant_id,
                    "name": name,
                    "country": country.strip().upper(),
                    "region": region,
                    "status": "provisioning",
                    "createdAt": now,
                }
            )
            try:
                key_id = await client.encryption.create_data_key(
                    client.wrapping_provider,
                    master_key=client.master_key,
                    key_alt_names=[tenant_id],
                )
            except DuplicateKeyError:  # pragma: no cover - ULIDs do not repeat
                raise EnclaveError("data key exists for a new tenant id") from None
            await ensure_tenant_indexes(
                client.data[database_name(tenant_id)], list(DATASHEETS.values())
            )
            operator = Actor(user_id="operator", kind="operator")
            admin = await self.for_tenant(tenant_id).create_user(admin_email, ["admin"], operator)
            await control.update_one(
                {"_id": tenant_id}, {"$set": {"status": "active", "keyId": key_id}}
            )
        info = TenantInfo(tenant_id, name, country.strip().upper(), region, "active", now)
        return info, admin

    async def get_tenant(self, tenant_id: str) -> TenantInfo | None:
        validate_tenant_id(tenant_id)
        region = region_of(tenant_id)
        with mongo_errors(region):
            doc = await self.regions[region].plain[CONTROL_DB][TENANTS].find_one({"_id": tenant_id})
        return None if doc is None else tenant_info(doc)

    async def list_tenants(self) -> list[TenantInfo]:
        tenants: list[TenantInfo] = []
        for region in self.regions:
            tenants.extend(await self.list_tenants_in(region))
        return tenants

    async def list_tenants_in(self, region: RegionName) -> list[TenantInfo]:
        """The tenants whose control records are on *region*'s cluster."""
        control = self.regions[region].plain[CONTROL_DB][TENANTS]
        with mongo_errors(region):
            return [tenant_info(doc) async for doc in control.find({}, sort=[("_id", 1)])]

    async def ping(self, region: RegionName) -> None:
        client = self.regions[region]
        with mongo_errors(region):
            await client.plain.admin.command("ping")
            await client.data.admin.command("ping")

    async def aclose(self) -> None:
        await self.regions.aclose()
