"""Breach incidents of one tenant (``incidents``), changed through the audited write path.

An incident document carries a MAC like users and roles (``storage.documentmac``): one
written or edited in the database is treated as absent. Its free text (nature, the notes of
its history, its containment log and its report versions) is encrypted under the tenant key
(``storage.mongo.changes`` declares those fields); ids, states and times are plain.

A detection rule opens at most one incident per compromised principals while one is open:
it claims ``incident_keys`` ``<key>/<generation>`` by inserting under the unique ``_id``
(atomic on every server), and moves to the next generation only once the incident of the
previous one is closed or dismissed. The claim names its incident once that is written; a
claim naming none (its opener crashed between the two) is free again after the write lease.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from ulid import ULID

from schema.errors import BadUserInputError, ConflictError, NotFoundError
from storage.contract.incidents import DETECTION, IncidentStore
from storage.incidentvalues import (
    OPEN_STATES,
    TRANSITIONS,
    Compromised,
    ContainmentAction,
    Incident,
    IncidentOrigin,
    IncidentState,
    TenantContact,
)
from storage.mongo.changes import CONTACT, INCIDENTS, Change
from storage.mongo.decryption import tenant_of_database, tenant_scoped
from storage.mongo.errors import MapsDriverErrors
from storage.mongo.incidentdocs import (
    change_doc,
    incident_from_doc,
    report_doc,
    step_doc,
)
from storage.mongo.writes import LEASE, WritePath, now
from storage.values import (
    Actor,
)

__all__ = ["INCIDENT_INDEXES", "KEYS", "MongoIncidents", "open_key"]

KEYS = "incident_keys"
_RETRIES = 8


def _utc(at: dt.datetime) -> dt.datetime:
    at = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
    at = at.astimezone(dt.UTC)
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def open_key(rule: str, compromised: Sequence[Compromised]) -> str:
    principals = sorted(f"{c.kind}:{c.id or ''}" for c in compromised)
    return hashlib.sha256("\n".join([rule, *principals]).encode()).hexdigest()


@tenant_scoped(tenant_of_database)
class MongoIncidents(MapsDriverErrors, IncidentStore):
    def __init__(self, db: AsyncDatabase[dict[str, Any]], writes: WritePath, region: str) -> None:
        self._db = db
        self._writes = writes
        self._region = region

    def _valid(self, kind: str, doc: Mapping[str, Any] | None) -> bool:
        return self._writes.documents.verify(self._db.name, kind, doc)

    async def _doc(self, incident_id: str) -> dict[str, Any]:
        doc = await self._db[INCIDENTS].find_one({"_id": incident_id})
        if doc is None or not self._valid(INCIDENTS, doc):
            raise NotFoundError("no incident with this id", id=incident_id)
        return doc

    async def open(
        self,
        compromised: Sequence[Compromised],
        window_start: dt.datetime,
        window_end: dt.datetime | None,
        actor: Actor,
        *,
        origin: IncidentOrigin,
        nature: str | None = None,
        detected_at: dt.datetime | None = None,
        state: IncidentState = "confirmed",
        rule: str | None = None,
    ) -> Incident:
        if not compromised:
            raise BadUserInputError("name what was compromised", field="compromised")
        if window_end is not None and window_end < window_start:
            raise BadUserInputError("the window ends before it starts", field="windowEnd")
        if state not in OPEN_STATES:
            raise BadUserInputError("an incident opens suspected or confirmed", field="state")
        at = now()
        after: dict[str, Any] = {
            "state": state,
            "origin": origin,
            "rule": rule,
            "compromised": [{"kind": c.kind, "id": c.id} for c in dict.fromkeys(compromised)],
            "windowStart": _utc(window_start),
            "windowEnd": None if window_end is None else _utc(window_end),
            "detectedAt": _utc(detected_at or at),
            "nature": nature,
            "history": [change_doc(at, None, state, actor.user_id, None)],
            "containment": [],
            "reports": [],
        }
        incident_id = str(ULID())
        change = Change("create", INCIDENTS, incident_id, 1, after=after)
        await self._writes.write(change, actor)
        return incident_from_doc({"_id": incident_id, "_v": 1, **after})

    async def open_suspected(
        self,
        rule: str,
        compromised: Sequence[Compromised],
        since: dt.datetime,
        until: dt.datetime,
        summary: str,
    ) -> str | None:
        key = open_key(rule, compromised)
        latest = await self._db[KEYS].find_one({"key": key}, sort=[("gen", DESCENDING)])
        for _ in range(_RETRIES):
            gen = 0
            if latest is not None:
                if not await self._closed(key, latest):
                    return None
                gen = int(latest["gen"]) + 1
            claim = {"_id": f"{key}/{gen}", "key": key, "gen": gen, "incident": None}
            try:
                await self._db[KEYS].insert_one({**claim, "at": now()})
            except DuplicateKeyError:
                latest = await self._db[KEYS].find_one({"_id": claim["_id"]})
                continue
            try:
                made = await self.open(
                    compromised, since, until, DETECTION,
                    origin="detection", nature=summary, state="suspected", rule=rule,
                )  # fmt: skip
            except BaseException:
                await self._db[KEYS].delete_one({"_id": claim["_id"]})  # nothing was opened
                raise
            # Only this caller holds the claim: a plain update of it loses nothing.
            await self._db[KEYS].update_one({"_id": claim["_id"]}, {"$set": {"incident": made.id}})
            return made.id
        raise ConflictError("too many concurrent detections of this incident")

    async def _closed(self, key: str, claim: Mapping[str, Any]) -> bool:
        """Whether the incident *claim* (of *key*) opened is over, so a new one may be opened.

        The claims are not MAC'd: a claim counts only while it names no incident and was
        taken within the write lease (its opener is writing it), or names an incident whose
        MAC holds, that is about *key*'s rule and principals, and that is open. So a claim
        written in the database (naming another open incident, or taken in the future)
        cannot keep a rule from opening its incident."""
        named = claim.get("incident")
        if named is None:
            at = claim.get("at")
            if not isinstance(at, dt.datetime):
                return True
            return not now() - LEASE <= _utc(at) <= now() + LEASE
        doc = await self._db[INCIDENTS].find_one({"_id": named})
        if doc is None or not self._valid(INCIDENTS, doc):
            return True
        found = incident_from_doc(doc)
        if found.rule is None or open_key(found.rule, found.compromised) != key:
            return True
        return found.state not in OPEN_STATES

    async def get(self, incident_id: str) -> Incident | None:
        doc = await self._db[INCIDENTS].find_one({"_id": incident_id})
        return incident_from_doc(doc) if doc is not None and self._valid(INCIDENTS, doc) else None

    async def page(
        self, state: IncidentState | None, *, first: int, after: str | None = None
    ) -> tuple[list[Incident], bool]:
        where: dict[str, Any] = {}
        if state is not None:
            where["state"] = state
        if after is not None:
            where["_id"] = {"$lt": after}
        cursor = self._db[INCIDENTS].find(where, sort=[("_id", DESCENDING)], limit=first + 1)
        docs = [d async for d in cursor if self._valid(INCIDENTS, d)]
        return [incident_from_doc(d) for d in docs[:first]], len(docs) > first

    async def _update(
        self,
        doc: Mapping[str, Any],
        after: dict[str, Any],
        actor: Actor,
        expected_version: int | None = None,
    ) -> Incident:
        version = int(doc["_v"])
        if expected_version is not None and expected_version != version:
            raise ConflictError(f"the incident is at version {version}", currentVersion=version)
        before = {name: doc.get(name) for name in after}
        change = Change("update", INCIDENTS, doc["_id"], version + 1, before=before, after=after)
        await self._writes.write(change, actor)
        return incident_from_doc({**doc, **after, "_v": version + 1})

    async def change_state(
        self,
        incident_id: str,
        state: IncidentState,
        expected_version: int,
        actor: Actor,
        note: str | None = None,
    ) -> Incident:
        doc = await self._doc(incident_id)
        current = doc["state"]
        if int(doc["_v"]) == expected_version and state not in TRANSITIONS[current]:
            raise BadUserInputError(f"an incident {current} cannot become {state}", field="state")
        step = change_doc(now(), current, state, actor.user_id, note)
        after = {"state": state, "history": [*(doc.get("history") or []), step]}
        return await self._update(doc, after, actor, expected_version)

    async def add_containment(
        self, incident_id: str, actions: Sequence[ContainmentAction], actor: Actor
    ) -> Incident:
        for _ in range(_RETRIES):
            doc = await self._doc(incident_id)
            log = [*(doc.get("containment") or []), *(step_doc(a) for a in actions)]
            try:
                return await self._update(doc, {"containment": log}, actor)
            except ConflictError:
                continue
        raise ConflictError("the incident keeps changing; try again")

    async def add_report(
        self,
        incident_id: str,
        document: Mapping[str, Any],
        delay_reason: str | None,
        actor: Actor,
    ) -> Incident:
        for _ in range(_RETRIES):
            doc = await self._doc(incident_id)
            incident = incident_from_doc(doc)
            if incident.state not in ("confirmed", "reported"):
                raise BadUserInputError(
                    f"an incident {incident.state} is not reported", field="state"
                )
            at = now()
            late = at > incident.deadline
            if late and not (delay_reason or "").strip():
                raise BadUserInputError(
                    "a report after the 72-hour deadline needs the reason for the delay",
                    field="delayReason",
                )
            version = len(incident.reports) + 1
            report = report_doc(version, at, late, delay_reason, document)
            after: dict[str, Any] = {"reports": [*(doc.get("reports") or []), report]}
            if incident.state == "confirmed":
                step = change_doc(at, "confirmed", "reported", actor.user_id, None)
                after |= {"state": "reported", "history": [*(doc.get("history") or []), step]}
            try:
                return await self._update(doc, after, actor)
            except ConflictError:
                continue
        raise ConflictError("the incident keeps changing; try again")

    async def contact(self) -> TenantContact | None:
        doc = await self._db[CONTACT].find_one({"_id": CONTACT})
        if not self._valid(CONTACT, doc) or doc is None:
            return None
        value = doc.get("contact") or {}
        return TenantContact(value["name"], value["email"], value.get("phone"))

    async def set_contact(self, contact: TenantContact, actor: Actor) -> TenantContact:
        if not contact.name.strip():
            raise BadUserInputError("the contact needs a name", field="name")
        if "@" not in contact.email:
            raise BadUserInputError("the contact needs an email address", field="email")
        for _ in range(_RETRIES):
            doc = await self._db[CONTACT].find_one({"_id": CONTACT})
            version = int(doc["_v"]) if doc is not None else 0
            value = {"name": contact.name, "email": contact.email, "phone": contact.phone}
            change = Change(
                "update" if doc else "create",
                CONTACT,
                CONTACT,
                version + 1,
                before={"contact": None if doc is None else doc.get("contact")},
                after={"contact": value},
            )
            try:
                await self._writes.write(change, actor)
            except ConflictError:
                continue
            return contact
        raise ConflictError("the contact keeps changing; try again")


INCIDENT_INDEXES: dict[str, tuple[IndexModel, ...]] = {
    INCIDENTS: (IndexModel("state"),),
    KEYS: (IndexModel([("key", 1), ("gen", DESCENDING)]),),
}
