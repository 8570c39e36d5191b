"""Roles of one tenant, changed through the audited write path.

Role versions are not kept in a collection of their own: the audit log already holds every
committed change with the role's full definition after it, so listing versions reads the
log. A deleted role keeps its document (``_deleted``) so that re-creating it continues its
version numbers instead of colliding with old claims.

The policy version is the highest audit sequence number applied to ``roles`` or
``users``: it grows with every change that can alter what anyone may see, and is read
from the applied state, never from an intent that may not have happened yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from schema.errors import BadUserInputError, ConflictError, NotFoundError
from schema.roles import ADMIN, RoleDefinition, RowFilter, SheetGrant
from storage.contract.roles import RoleStore
from storage.mongo.changes import BLOCKS, ROLES, USERS, Change
from storage.mongo.decryption import tenant_of_database, tenant_scoped
from storage.mongo.errors import MapsDriverErrors
from storage.mongo.writes import AUDIT, OUTCOMES, VALUES, WritePath
from storage.values import Actor, Role, RoleVersion

__all__ = [
    "ROLE_INDEXES",
    "MongoRoles",
    "check_roles_exist",
    "role_from_doc",
    "role_to_doc",
]


def role_to_doc(role: RoleDefinition) -> dict[str, Any]:
    sheets: dict[str, Any] = {}
    for name, g in role.sheets.items():
        row = None
        if g.row_filter is not None:
            row = {"equals": dict(g.row_filter.equals), "ownOnly": g.row_filter.own_only}
        sheets[name] = {
            "read": sorted(g.read),
            "mask": sorted(g.mask),
            "write": sorted(g.write),
            "create": g.create,
            "archive": g.archive,
            "delete": g.delete,
            "export": g.export,
            "report": g.report,
            "rowFilter": row,
        }
    return {"description": role.description, "sheets": sheets}


def role_from_doc(name: str, doc: Mapping[str, Any]) -> RoleDefinition:
    sheets: dict[str, SheetGrant] = {}
    for sheet, g in (doc.get("sheets") or {}).items():
        row = g.get("rowFilter")
        sheets[sheet] = SheetGrant(
            read=frozenset(g.get("read", ())),
            mask=frozenset(g.get("mask", ())),
            write=frozenset(g.get("write", ())),
            create=bool(g.get("create")),
            archive=bool(g.get("archive")),
            delete=bool(g.get("delete")),
            export=bool(g.get("export")),
            report=bool(g.get("report")),
            row_filter=None
            if row is None
            else RowFilter(equals=dict(row.get("equals") or {}), own_only=bool(row.get("ownOnly"))),
        )
    return RoleDefinition(name=name, description=doc.get("description", ""), sheets=sheets)


def _role(doc: Mapping[str, Any]) -> Role:
    return Role(
        role_from_doc(doc["_id"], doc), int(doc["_v"]), doc["_updated"], doc.get("_updatedBy")
    )


async def check_roles_exist(db: AsyncDatabase[dict[str, Any]], roles: Sequence[str]) -> None:
    """``BadUserInputError`` (field ``roles``) naming the first of *roles* not defined."""
    names = set(roles) - {ADMIN}
    if not names:
        return
    found = await db[ROLES].distinct(
        "_id", {"_id": {"$in": sorted(names)}, "_deleted": {"$ne": True}}
    )
    if missing := sorted(names - set(found)):
        raise BadUserInputError(f"unknown role {missing[0]!r}", field="roles")


@tenant_scoped(tenant_of_database)
class MongoRoles(MapsDriverErrors, RoleStore):
    def __init__(self, db: AsyncDatabase[dict[str, Any]], writes: WritePath, region: str) -> None:
        self._db = db
        self._writes = writes
        self._region = region

    def _valid(self, doc: Mapping[str, Any] | None) -> bool:
        """Whether *doc* was written by a gateway (its MAC verifies); a role that was not
        grants nothing."""
        return self._writes.documents.verify(self._db.name, ROLES, doc)

    async def all(self) -> list[Role]:
        cursor = self._db[ROLES].find({"_deleted": {"$ne": True}}, sort=[("_id", 1)])
        return [_role(d) async for d in cursor if self._valid(d)]

    async def put(
        self, definition: RoleDefinition, expected_version: int | None, actor: Actor
    ) -> Role:
        doc = await self._db[ROLES].find_one({"_id": definition.name})
        exists = doc is not None and not doc.get("_deleted")
        if expected_version is None and exists:
            raise ConflictError(f"role {definition.name!r} exists", field="name")
        if expected_version is not None and not exists:
            raise NotFoundError(f"no role {definition.name!r}", field="name")
        current = 0 if doc is None else int(doc["_v"])
        if expected_version is not None and current != expected_version:
            raise ConflictError(f"the role is at version {current}", currentVersion=current)
        after = {**role_to_doc(definition), "_deleted": False}
        before = {} if doc is None else {k: doc.get(k) for k in ("description", "sheets")}
        change = Change(
            op="create" if doc is None else "update",
            collection=ROLES,
            record_id=definition.name,
            version=current + 1,
            before=before,
            after=after,
            meta={"_updatedBy": actor.user_id},
        )
        _, at = await self._writes.write(change, actor)
        return Role(definition, current + 1, at, actor.user_id)

    async def delete(self, name: str, expected_version: int, actor: Actor) -> Role:
        doc = await self._db[ROLES].find_one({"_id": name, "_deleted": {"$ne": True}})
        if doc is None:
            raise NotFoundError(f"no role {name!r}", field="name")
        if int(doc["_v"]) != expected_version:
            raise ConflictError(f"the role is at version {doc['_v']}", currentVersion=doc["_v"])
        if await self._db[USERS].find_one({"roles": name}, {"_id": 1}) is not None:
            raise ConflictError(f"role {name!r} is still held by a user", field="name")
        change = Change(
            op="update",
            collection=ROLES,
            record_id=name,
            version=expected_version + 1,
            before={k: doc.get(k) for k in ("description", "sheets")},
            after={"_deleted": True},
            meta={"_updatedBy": actor.user_id},
        )
        _, at = await self._writes.write(change, actor)
        return Role(role_from_doc(name, doc), expected_version + 1, at, actor.user_id)

    async def versions(self, name: str) -> list[RoleVersion]:
        entries = (
            await self._db[AUDIT]
            .find({"datasheet": ROLES, "record": name}, sort=[("_id", 1)])
            .to_list()
        )
        committed = set(
            await self._db[OUTCOMES].distinct(
                "_id", {"_id": {"$in": [e["_id"] for e in entries]}, "outcome": "committed"}
            )
        )
        values = {
            v["_id"]: v.get("change")
            async for v in self._db[VALUES].find(
                {"_id": {"$in": [e.get("values") for e in entries]}}
            )
        }
        versions = []
        for e in entries:
            blob = values.get(e.get("values"))
            if e["_id"] not in committed or not isinstance(blob, dict):
                continue
            after = blob["after"]
            definition = None if after.get("_deleted") else role_from_doc(name, after)
            versions.append(
                RoleVersion(name, int(e["version"]), definition, e["at"], e["actor"]["id"])
            )
        if not versions:
            raise NotFoundError(f"no role {name!r}", field="name")
        return versions

    async def policy_version(self) -> int:
        # The collections' latest changes at once: one round trip, not three. Blocks count:
        # a process that missed the announcement of one finds it at its next recheck.
        docs = await asyncio.gather(
            *(
                self._db[coll].find_one({}, {"_seq": 1}, sort=[("_seq", DESCENDING)])
                for coll in (ROLES, USERS, BLOCKS)
            )
        )
        return max((int(doc.get("_seq", 0)) for doc in docs if doc is not None), default=0)


ROLE_INDEXES: dict[str, tuple[IndexModel, ...]] = {
    ROLES: (IndexModel("_seq"),),
    BLOCKS: (IndexModel("_seq"),),
}
