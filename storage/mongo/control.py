"""Tenant control records (``enclave_control.tenants``) and their state machine.

States::

    provisioning -> active <-> suspended
                    active | suspended -> terminated -> active (restore, before the purge date)
                                          terminated -> purging -> purged

Every change of state (and of the retention period) is *claimed* by inserting
``{_id: "<tenant>/<n>"}`` into ``enclave_control.transitions``, where n is the record's
``stateVersion`` plus one: inserting under a unique index is the one primitive atomic on
every server we support, so of two operators changing one tenant at once exactly one wins.
The claim holds what the change sets, so a change interrupted between its claim and its
update is rolled forward by the next one. The claims are the tenant's lifecycle history,
and outlive its database: who (operator or user id), what, when; no personal data.

A control record carries a MAC of its state (:mod:`storage.documentmac`, kind ``control``),
rewritten with every change (changes are serialised by their claims): a record whose status
or dates were changed in the database is refused (``DATA_INTEGRITY`` here, an unknown tenant
to the gateway), and a purge's progress (not covered) is written on its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from regions.clients import RegionClient
from regions.routing import database_name
from schema.errors import ConflictError, DataIntegrityError, NotFoundError
from storage.contract.audit import AuditStore
from storage.documentmac import MAC_FIELD
from storage.mongo.decryption import installed
from storage.mongo.errors import MapsDriverErrors
from storage.values import DEFAULT_RETENTION_DAYS, Actor, TenantInfo

__all__ = [
    "CONTROL_DB",
    "TENANTS",
    "TRANSITIONS",
    "ControlRecords",
    "tenant_info",
]

CONTROL_DB = "enclave_control"
TENANTS = "tenants"
TRANSITIONS = "transitions"

#: action -> (states it may start from, the state it leads to; None: unchanged).
ACTIONS: Mapping[str, tuple[frozenset[str], str | None]] = {
    "suspend": (frozenset({"active"}), "suspended"),
    "resume": (frozenset({"suspended"}), "active"),
    "terminate": (frozenset({"active", "suspended"}), "terminated"),
    "request-termination": (frozenset({"active"}), "terminated"),
    "restore": (frozenset({"terminated"}), "active"),
    "set-retention": (frozenset({"active", "suspended", "terminated"}), None),
    "purge": (frozenset({"terminated"}), "purging"),
    "purged": (frozenset({"purging"}), "purged"),
}


def tenant_info(doc: Mapping[str, Any]) -> TenantInfo:
    return TenantInfo(
        id=doc["_id"],
        name=doc["name"],
        country=doc["country"],
        region=doc["region"],
        status=doc["status"],
        created_at=doc["createdAt"],
        retention_days=int(doc.get("retentionDays", DEFAULT_RETENTION_DAYS)),
        terminated_at=doc.get("terminatedAt"),
        purge_due_at=doc.get("purgeDueAt"),
        certificate=doc.get("certificate"),
    )


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


class ControlRecords(MapsDriverErrors):
    """The control records of one region's tenants."""

    def __init__(self, region: RegionClient) -> None:
        self.region = region
        self._region = region.name
        control = region.plain[CONTROL_DB]
        self.tenants: AsyncCollection[dict[str, Any]] = control[TENANTS]
        self.transitions: AsyncCollection[dict[str, Any]] = control[TRANSITIONS]
        self._docs = installed(region).documents

    async def get(self, tenant_id: str) -> dict[str, Any]:
        doc = await self.tenants.find_one({"_id": tenant_id})
        if doc is None:
            raise NotFoundError("no tenant with this id")
        if not self._docs.verify(database_name(tenant_id), "control", doc):
            raise DataIntegrityError(
                "the tenant's control record failed an integrity check; nothing was changed"
            )
        return doc

    async def transition(
        self,
        tenant_id: str,
        action: str,
        actor: Actor,
        *,
        set_fields: Mapping[str, Any] | None = None,
        unset: tuple[str, ...] = (),
        audit: AuditStore | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> TenantInfo:
        """Apply *action* to the tenant if its state allows it; ``CONFLICT`` naming the state
        if not. The change is audited in the tenant's own log when *audit* is given."""
        allowed, target = ACTIONS[action]
        doc = await self.get(tenant_id)
        status = doc["status"]
        if status not in allowed:
            raise ConflictError(
                f"cannot {action.replace('-', ' ')} a tenant that is {status}",
                status=status,
                action=action,
            )
        new_status = target or status
        version = int(doc.get("stateVersion", 0)) + 1
        changes = {**(set_fields or {}), "status": new_status, "stateVersion": version}
        at = now()
        claim = {
            "_id": f"{tenant_id}/{version}",
            "tenant": tenant_id,
            "action": action,
            "from": status,
            "to": new_status,
            "at": at,
            "actor": {"kind": actor.kind, "id": actor.user_id},
            "set": changes,
            "unset": list(unset),
        }
        try:
            await self.transitions.insert_one(claim)
        except DuplicateKeyError:
            await self._roll_forward(tenant_id, version)
            raise ConflictError(
                "the tenant's state was changed by someone else; look again and retry"
            ) from None
        await self._apply(tenant_id, changes, list(unset))
        if audit is not None:
            await audit.record_event(
                "lifecycle",
                actor,
                {"action": action, "from": status, "to": new_status, **(detail or {})},
            )
        return tenant_info(await self.get(tenant_id))

    async def _apply(self, tenant_id: str, changes: Mapping[str, Any], unset: list[str]) -> None:
        current = await self.tenants.find_one({"_id": tenant_id}) or {"_id": tenant_id}
        state = {k: v for k, v in {**current, **changes}.items() if k not in unset}
        mac = self._docs.seal(database_name(tenant_id), "control", tenant_id, state)
        update: dict[str, Any] = {"$set": {**changes, MAC_FIELD: mac}}
        if unset:
            update["$unset"] = dict.fromkeys(unset, "")
        await self.tenants.update_one({"_id": tenant_id}, update)

    async def _roll_forward(self, tenant_id: str, version: int) -> None:
        """A claim exists for *version*: make sure the record shows it (its writer may have
        crashed between the claim and the update)."""
        claim = await self.transitions.find_one({"_id": f"{tenant_id}/{version}"})
        doc = await self.get(tenant_id)
        if claim is not None and int(doc.get("stateVersion", 0)) < version:
            await self._apply(tenant_id, claim["set"], list(claim.get("unset", [])))

    async def history(self, tenant_id: str) -> list[dict[str, Any]]:
        """Every change of the tenant's state, oldest first (ids of actors, no values)."""
        found = await self.transitions.find({"tenant": tenant_id}).to_list()
        return sorted(found, key=lambda c: int(str(c["_id"]).rsplit("/", 1)[1]))

    async def set_progress(self, tenant_id: str, fields: Mapping[str, Any]) -> None:
        """Record progress of a multi-step change (a purge) without a new state."""
        await self.tenants.update_one({"_id": tenant_id}, {"$set": dict(fields)})

    async def due(self, settle: dt.timedelta) -> list[str]:
        """The tenants whose purge is due (terminated more than *settle* ago) or under way."""
        query = {
            "$or": [
                {
                    "status": "terminated",
                    "purgeDueAt": {"$lte": now()},
                    "terminatedAt": {"$lte": now() - settle},
                },
                {"status": "purging"},
            ]
        }
        return [str(doc["_id"]) for doc in await self.tenants.find(query, {"_id": 1}).to_list()]
