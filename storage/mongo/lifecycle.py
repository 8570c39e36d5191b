"""Tenant lifecycle: suspend, resume, terminate, restore, and purge (crypto-shredding).

A purge destroys the tenant's data key in the key vault (so every copy of its ciphertext,
backups included, can no longer be decrypted by anyone with the key vault) and drops its
database, then leaves a deletion certificate in the control record. It runs as recorded
steps, so a purge stopped by a crash is finished by the next run (``purge_due``, the CLI
or the gateway's periodic task); every step is idempotent:

1. claim: ``terminated -> purging``, with the document counts and the key id (audited in
   the tenant's own log, which goes with the database);
2. ``key``: delete the data key from the key vault;
3. ``database``: drop the tenant database (and, from a gateway or the CLI, its keys in
   Redis: idempotent answers, encrypted under the destroyed key, and rate-limit counters);
4. ``purging -> purged`` with the certificate (tenant id, when, key id, counts).

Whether a purge is also final against *backups of the key vault* depends on the master
key that wrapped the destroyed key: it is, once that master key is retired (see
``storage.mongo.keys``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from regions.clients import KEY_VAULT_NAMESPACE, RegionClient, RegionRegistry
from regions.routing import database_name, validate_tenant_id
from schema.errors import BadUserInputError, ConflictError, EnclaveError
from storage.contract.audit import AuditStore
from storage.contract.lifecycle import TenantLifecycle
from storage.contract.termination import Termination
from storage.mongo.control import ControlRecords, now, tenant_info
from storage.mongo.errors import MapsDriverErrors
from storage.values import Actor, PurgeOutcome, TenantInfo

if TYPE_CHECKING:
    from storage.base import Store

__all__ = ["MAX_RETENTION_DAYS", "SETTLE", "MongoLifecycle", "MongoTermination"]

log = logging.getLogger("enclave.storage.lifecycle")
MAX_RETENTION_DAYS = 3650
#: Gateways see a tenant's new state within 5 s (their tenant cache) and finish requests
#: in flight soon after; a purge waits this long after the termination so that no late
#: write or access-log batch recreates the database it dropped.
SETTLE = dt.timedelta(seconds=10)


def _check_days(days: int) -> int:
    if not 0 <= days <= MAX_RETENTION_DAYS:
        raise BadUserInputError(
            f"a retention period is 0 to {MAX_RETENTION_DAYS} days", field="retentionDays"
        )
    return days


def _vault(region: RegionClient) -> Any:
    vault_db, vault_coll = KEY_VAULT_NAMESPACE.split(".", 1)
    return region.plain[vault_db][vault_coll]


async def _terminate(
    control: ControlRecords,
    tenant_id: str,
    actor: Actor,
    audit: AuditStore,
    action: str = "terminate",
    retention_days: int | None = None,
) -> TenantInfo:
    doc = await control.get(tenant_id)
    days = _check_days(
        int(doc.get("retentionDays", 180)) if retention_days is None else retention_days
    )
    at = now()
    due = at + dt.timedelta(days=days)
    return await control.transition(
        tenant_id,
        action,
        actor,
        set_fields={"terminatedAt": at, "purgeDueAt": due, "retentionDays": days},
        audit=audit,
        detail={"purgeDueAt": due, "retentionDays": days},
    )


class MongoTermination(MapsDriverErrors, Termination):
    """One tenant's own admins ending its environment."""

    def __init__(self, tenant_id: str, region: RegionClient, audit: AuditStore) -> None:
        self._tenant = tenant_id
        self._client = region
        self._audit = audit
        self._region = region.name

    async def request(self, actor: Actor) -> TenantInfo:
        control = ControlRecords(self._client)  # here, not with every handle: rarely used
        return await _terminate(control, self._tenant, actor, self._audit, "request-termination")


class MongoLifecycle(MapsDriverErrors, TenantLifecycle):
    """State changes of tenants, for operators (the CLI) and the gateway's purge task."""

    def __init__(
        self,
        store: Store,
        regions: RegionRegistry,
        *,
        settle: dt.timedelta = SETTLE,
        forget: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        self._regions = regions
        self._settle = settle
        #: Drops what else holds the tenant (the gateway's Redis keys), once its database is
        #: gone; best effort: whatever it leaves expires.
        self._forget = forget

    def _control(self, tenant_id: str) -> ControlRecords:
        return ControlRecords(self._regions.for_tenant(validate_tenant_id(tenant_id)))

    async def _change(self, tenant_id: str, action: str, actor: Actor, **fields: Any) -> TenantInfo:
        audit = self._store.for_tenant(tenant_id).audit
        return await self._control(tenant_id).transition(
            tenant_id, action, actor, audit=audit, **fields
        )

    async def suspend(self, tenant_id: str, actor: Actor) -> TenantInfo:
        return await self._change(tenant_id, "suspend", actor)

    async def resume(self, tenant_id: str, actor: Actor) -> TenantInfo:
        return await self._change(tenant_id, "resume", actor)

    async def terminate(
        self, tenant_id: str, actor: Actor, retention_days: int | None = None
    ) -> TenantInfo:
        audit = self._store.for_tenant(tenant_id).audit
        return await _terminate(
            self._control(tenant_id), tenant_id, actor, audit, retention_days=retention_days
        )

    async def restore(self, tenant_id: str, actor: Actor) -> TenantInfo:
        doc = await self._control(tenant_id).get(tenant_id)
        due = doc.get("purgeDueAt")
        if doc["status"] == "terminated" and due is not None and due <= now():
            raise ConflictError("the purge date has passed: the tenant can only be purged")
        return await self._change(tenant_id, "restore", actor, unset=("terminatedAt", "purgeDueAt"))

    async def set_retention(self, tenant_id: str, days: int, actor: Actor) -> TenantInfo:
        fields: dict[str, Any] = {"retentionDays": _check_days(days)}
        doc = await self._control(tenant_id).get(tenant_id)
        if doc["status"] == "terminated" and doc.get("terminatedAt") is not None:
            fields["purgeDueAt"] = doc["terminatedAt"] + dt.timedelta(days=days)
        return await self._change(
            tenant_id, "set-retention", actor, set_fields=fields, detail={"retentionDays": days}
        )

    async def history(self, tenant_id: str) -> list[dict[str, Any]]:
        return await self._control(tenant_id).history(tenant_id)

    async def purge(
        self, tenant_id: str, actor: Actor, *, before_due: bool = False
    ) -> Mapping[str, Any]:
        """Purge a terminated tenant whose purge is due (or now, *before_due*), or finish a
        purge that was interrupted; a purged tenant's certificate is returned as it is."""
        control = self._control(tenant_id)
        doc = await control.get(tenant_id)
        status = doc["status"]
        if status == "purged":
            return dict(doc["certificate"])
        if status == "terminated":
            due = doc.get("purgeDueAt")
            if not before_due and (due is None or due > now()):
                raise ConflictError(
                    f"the purge is due on {due:%Y-%m-%d %H:%M} UTC; "
                    "purge before then only on the client's request (--now)"
                )
            settled = doc.get("terminatedAt", now()) + self._settle
            if settled > now():
                raise ConflictError(
                    "the tenant was terminated seconds ago and gateways may still be "
                    f"finishing its requests: purge it after {settled:%H:%M:%S} UTC"
                )
            try:
                doc = await self._claim(control, doc, actor)
            except ConflictError:
                # Claimed meanwhile by another purge, or by one that crashed before it
                # recorded the new state (the claim has been rolled forward): finish it.
                doc = await control.get(tenant_id)
                if doc["status"] != "purging":
                    raise
        elif status != "purging":
            raise ConflictError(
                f"cannot purge a tenant that is {status}: terminate it first",
                status=status,
            )
        return await self._finish(control, doc, actor)

    async def _claim(
        self, control: ControlRecords, doc: Mapping[str, Any], actor: Actor
    ) -> dict[str, Any]:
        tenant_id = str(doc["_id"])
        db = control.region.plain[database_name(tenant_id)]
        counts = {
            name: await db[name].count_documents({}) for name in await db.list_collection_names()
        }
        key = await _vault(control.region).find_one({"keyAltNames": tenant_id})
        progress: dict[str, Any] = {
            "startedAt": now(),
            "counts": counts,
            "keyId": str(key["_id"]) if key else None,
            "wrappedBy": (key.get("masterKey") or {}).get("provider") if key else None,
            "done": [],
        }
        await control.transition(
            tenant_id,
            "purge",
            actor,
            set_fields={"purge": progress},
            audit=self._store.for_tenant(tenant_id).audit,
            detail={"counts": counts, "keyId": progress["keyId"]},
        )
        return await control.get(tenant_id)

    async def _finish(
        self, control: ControlRecords, doc: Mapping[str, Any], actor: Actor
    ) -> Mapping[str, Any]:
        tenant_id = str(doc["_id"])
        purge = dict(doc["purge"])
        done = list(purge.get("done", []))
        if "key" not in done:  # crypto-shredding first: from here no copy can be decrypted
            await _vault(control.region).delete_many({"keyAltNames": tenant_id})
            done.append("key")
            await control.set_progress(tenant_id, {"purge.done": done})
        if "database" not in done:
            await control.region.plain.drop_database(database_name(tenant_id))
            done.append("database")
            await control.set_progress(tenant_id, {"purge.done": done})
        if self._forget is not None:
            await self._forget(tenant_id)
        certificate = {
            "tenantId": tenant_id,
            "region": doc["region"],
            "database": database_name(tenant_id),
            "terminatedAt": doc.get("terminatedAt"),
            "purgeStartedAt": purge["startedAt"],
            "purgedAt": now(),
            "keyAltName": tenant_id,
            "keyIdDestroyed": purge.get("keyId"),
            "keyWrappedBy": purge.get("wrappedBy"),
            "counts": purge.get("counts", {}),
            "by": {"kind": actor.kind, "id": actor.user_id},
        }
        try:
            info = await control.transition(
                tenant_id,
                "purged",
                actor,
                set_fields={"certificate": certificate},
                unset=("purge",),
            )
        except ConflictError:
            info = tenant_info(await control.get(tenant_id))  # finished by another process
            if info.status != "purged":
                raise
        log.info("purged tenant %s", tenant_id)
        return dict(info.certificate or certificate)

    async def purge_due(self, actor: Actor) -> list[PurgeOutcome]:
        outcomes: list[PurgeOutcome] = []
        for name, region in self._regions.items():
            try:
                due = await ControlRecords(region).due(self._settle)
            except EnclaveError as exc:
                log.warning("purge-due: region %s unavailable", name)
                outcomes.append(PurgeOutcome(f"({name})", exc.code))
                continue
            for tenant_id in due:
                try:
                    cert = await self.purge(tenant_id, actor)
                    outcomes.append(PurgeOutcome(tenant_id, "purged", cert))
                except EnclaveError as exc:
                    log.warning("purge-due: tenant %s: %s", tenant_id, exc.code)
                    outcomes.append(PurgeOutcome(tenant_id, exc.code))
        return outcomes
