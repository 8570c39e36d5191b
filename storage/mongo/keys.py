"""Master-key rotation: rewrap every data key of a region under a new master key.

Data keys never change, only the master key that wraps them, so no ciphertext is
rewritten and nothing stops: gateways that know both the old and the new master key (a
named provider such as ``local:key2``, or a second cloud key) unwrap either, and keep
their unwrapped keys cached meanwhile. Steps for operators (README, "Key rotation"):
give every gateway the new key, ``enclave keys rotate``, check ``enclave keys status``
shows no key left under the old one, then retire it (remove it from the configuration
and destroy it and its copies).

Retiring the old master key is what makes earlier purges final against *backups of the
key vault*: a backup holds the purged tenant's data key wrapped by a master key, and is
useless once that master key is gone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from bson.binary import Binary

from regions.clients import KEY_VAULT_NAMESPACE, RegionRegistry
from regions.countries import RegionName
from schema.errors import BadUserInputError
from storage.contract.audit import AuditStore
from storage.contract.keys import MasterKeys
from storage.documentmac import DocumentAuthenticator
from storage.mongo.errors import MapsDriverErrors
from storage.mongo.upgrade import UnsealedDocuments
from storage.values import Actor, RotationReport

__all__ = ["REWRAP_BATCH", "MongoMasterKeys"]

#: Data keys rewrapped by one update command during a rotation.
REWRAP_BATCH = 50


class MongoMasterKeys(MapsDriverErrors, MasterKeys):
    """The key vaults of every region (``encryption.__keyVault`` on each region's cluster)."""

    def __init__(
        self,
        regions: RegionRegistry,
        documents: DocumentAuthenticator,
        audit: Callable[[str], AuditStore],
    ) -> None:
        self._regions = regions
        self._documents = documents
        self._audit = audit

    async def providers(self, region: RegionName) -> dict[str, int]:
        vault_db, vault_coll = KEY_VAULT_NAMESPACE.split(".", 1)
        vault = self._regions[region].plain[vault_db][vault_coll]
        docs = await vault.find({}, {"masterKey": 1}).to_list()
        return dict(Counter(str((d.get("masterKey") or {}).get("provider")) for d in docs))

    async def rotate(
        self, region: RegionName, provider: str, master_key: Mapping[str, Any] | None = None
    ) -> RotationReport:
        client = self._regions[region]
        if provider not in client.config.kms_provider_settings():
            raise BadUserInputError(
                f"the {region.upper()} region has no KMS provider {provider!r} configured",
                field="provider",
            )
        before = await self.providers(region)
        vault_db, vault_coll = KEY_VAULT_NAMESPACE.split(".", 1)
        vault = client.plain[vault_db][vault_coll]
        rewrapped, after_id = 0, None
        # In batches, by key id: one update command per batch, not one for the whole vault
        # (FerretDB 1.24 holds a database connection per statement of an update command
        # until it ends, so 100 statements exhaust its pool of 100 and it never answers).
        while True:
            above: dict[str, Any] = {} if after_id is None else {"_id": {"$gt": after_id}}
            ids = [
                d["_id"]
                async for d in vault.find(above, {"_id": 1}).sort("_id", 1).limit(REWRAP_BATCH)
            ]
            if not ids:
                break
            # (libmongocrypt encodes the filter with no UUID representation: ids as Binary.)
            batch = [Binary.from_uuid(i) if isinstance(i, UUID) else i for i in ids]
            result = await client.encryption.rewrap_many_data_key(
                {"_id": {"$in": batch}}, provider=provider, master_key=master_key
            )
            bulk = result.bulk_write_result
            rewrapped += bulk.modified_count if bulk is not None else 0
            after_id = ids[-1]
        return RotationReport(region, provider, rewrapped, before, await self.providers(region))

    async def seal_documents(self, actor: Actor) -> dict[str, dict[str, int]]:
        report: dict[str, dict[str, int]] = {}
        for region in self._regions.values():
            unsealed = UnsealedDocuments(region, self._documents, self._audit)
            report.update(await unsealed.seal(actor))
        return report
