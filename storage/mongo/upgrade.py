"""Upgrading: a MAC for the trusted documents written before they carried one.

Documents trusted for access (:mod:`storage.documentmac`) written by an earlier version have
no ``_mac`` and are refused. ``enclave keys seal-documents`` runs
:meth:`UnsealedDocuments.seal` in every region once, when upgrading: it gives every such
document *without* a MAC one over what it holds now, and never touches a document whose MAC
fails (that one was changed outside the gateway). It trusts the database as it is when it
runs, so run it before the databases could have been written by anyone else; each tenant's
log gets an entry (``documents_sealed``, counts only), so an operator cannot legitimise a
document in a tenant unseen.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from regions.clients import KEY_VAULT_NAMESPACE, RegionClient
from regions.routing import database_name
from storage.contract.audit import AuditStore
from storage.documentmac import MAC_FIELD, DocumentAuthenticator
from storage.mongo.control import CONTROL_DB, TENANTS
from storage.mongo.decryption import key_binding, tenant_scope
from storage.mongo.errors import MapsDriverErrors
from storage.values import Actor

__all__ = ["UnsealedDocuments"]

#: The collections of a tenant database whose documents carry a MAC.
KINDS = ("users", "roles", "api_keys", "settings", "sessions", "setup_codes")
_UNSEALED = {MAC_FIELD: {"$exists": False}}


async def _seal_control(
    region: RegionClient, documents: DocumentAuthenticator, record: dict[str, Any]
) -> Counter[str]:
    done: Counter[str] = Counter()
    tenant_id = str(record["_id"])
    db_name = database_name(tenant_id)
    control = region.plain[CONTROL_DB][TENANTS]
    if MAC_FIELD not in record:
        mac = documents.seal(db_name, "control", tenant_id, record)
        await control.update_one({"_id": tenant_id, **_UNSEALED}, {"$set": {MAC_FIELD: mac}})
        done["control"] += 1
    if "keyMac" not in record:
        vault_db, vault_coll = KEY_VAULT_NAMESPACE.split(".", 1)
        key = await region.plain[vault_db][vault_coll].find_one(
            {"keyAltNames": tenant_id}, {"_id": 1}
        )
        if key is not None:
            raw = key["_id"].bytes if hasattr(key["_id"], "bytes") else bytes(key["_id"])
            mac = documents.seal(db_name, "data_key", tenant_id, key_binding(tenant_id, raw))
            await control.update_one(
                {"_id": tenant_id, "keyMac": {"$exists": False}}, {"$set": {"keyMac": mac}}
            )
            done["data_key"] += 1
    return done


async def _seal_tenant(
    region: RegionClient, documents: DocumentAuthenticator, tenant_id: str
) -> Counter[str]:
    done: Counter[str] = Counter()
    db = region.data[database_name(tenant_id)]  # decrypted: MACs cover plaintext
    with tenant_scope(tenant_id):
        for kind in KINDS:
            async for doc in db[kind].find(_UNSEALED):
                if kind == "setup_codes" and "user" not in doc:
                    continue  # the claim of a used code, not a code
                mac = documents.seal(db.name, kind, str(doc["_id"]), doc)
                await db[kind].update_one(
                    {"_id": doc["_id"], **_UNSEALED}, {"$set": {MAC_FIELD: mac}}
                )
                done[kind] += 1
    return done


class UnsealedDocuments(MapsDriverErrors):
    """The trusted documents of one region's tenants that have no MAC yet."""

    def __init__(
        self,
        region: RegionClient,
        documents: DocumentAuthenticator,
        audit: Callable[[str], AuditStore],
    ) -> None:
        self._client = region
        self._region = region.name
        self._documents = documents
        self._audit = audit

    async def seal(self, actor: Actor) -> dict[str, dict[str, int]]:
        """Seal every trusted document without a MAC in the region's tenants; per tenant,
        how many of each kind (only tenants where something was sealed)."""
        report: dict[str, dict[str, int]] = {}
        records = await self._client.plain[CONTROL_DB][TENANTS].find({}).to_list()
        for record in records:
            if record.get("status") in ("purging", "purged"):
                continue
            tenant_id = str(record["_id"])
            done = await _seal_control(self._client, self._documents, record)
            done += await _seal_tenant(self._client, self._documents, tenant_id)
            if done:
                counts = dict(sorted(done.items()))
                await self._audit(tenant_id).record_event("documents_sealed", actor, counts)
                report[tenant_id] = counts
        return report
