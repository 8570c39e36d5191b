"""Roles and users of one tenant, changed through the audited write path.

Role versions are not kept in a collection of their own: the audit log already holds every
committed change with the role's full definition after it, so listing versions reads the
log. A deleted role keeps its document (``_deleted``) so that re-creating it continues its
version numbers instead of colliding with old claims.

The policy version is the highest audit sequence number applied to ``roles`` or
``users``: it grows with every change that can alter what anyone may see, and is read
from the applied state, never from an intent that may not have happened yet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from ulid import ULID

from schema.errors import BadUserInputError, ConflictError, NotFoundError
from schema.roles import ADMIN, RoleDefinition, RowFilter, SheetGrant
from storage.base import Actor, Role, RoleVersion, User
from storage.mongo.codec import FieldCodec
from storage.mongo.writes import AUDIT, OUTCOMES, VALUES, Change, WritePath, declared_fields

__all__ = ["USERS", "AccessRepository", "role_from_doc", "role_to_doc"]

USERS = "users"
ROLES = "roles"


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


def _user(doc: Mapping[str, Any]) -> User:
    return User(
        id=doc["_id"],
        email=doc["email"],
        roles=tuple(doc.get("roles", ())),
        can_export=bool(doc.get("canExport", False)),
        version=int(doc.get("_v", 1)),
    )


def _role(doc: Mapping[str, Any]) -> Role:
    return Role(
        role_from_doc(doc["_id"], doc), int(doc["_v"]), doc["_updated"], doc.get("_updatedBy")
    )


class AccessRepository:
    """Roles and users in one tenant database."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], codec: FieldCodec, writes: WritePath):
        self._db = db
        self._codec = codec
        self._writes = writes
        self._docs = writes.documents

    def _valid(self, collection: str, doc: Mapping[str, Any] | None) -> bool:
        """Whether *doc* was written by a gateway (its MAC verifies); one that was not is
        treated as absent: a user who cannot sign in, a role that grants nothing."""
        return self._docs.verify(self._db.name, collection, doc)

    # -- users -----------------------------------------------------------------------------

    async def _check_roles_exist(self, roles: Sequence[str]) -> None:
        names = set(roles) - {ADMIN}
        if not names:
            return
        found = await self._db[ROLES].distinct(
            "_id", {"_id": {"$in": sorted(names)}, "_deleted": {"$ne": True}}
        )
        if missing := sorted(names - set(found)):
            raise BadUserInputError(f"unknown role {missing[0]!r}", field="roles")

    async def create_user(
        self, email: str, roles: Sequence[str], actor: Actor, can_export: bool
    ) -> User:
        await self._check_roles_exist(roles)
        email_field = declared_fields(USERS)["email"]
        taken = await self._db[USERS].find_one(
            {"email": await self._codec.encrypt(email_field, email)}, {"_id": 1}
        )
        if taken is not None:
            raise ConflictError("a user with this email exists", field="email")
        user = User(
            id=str(ULID()), email=email, roles=tuple(dict.fromkeys(roles)), can_export=can_export
        )
        change = Change(
            op="create",
            collection=USERS,
            record_id=user.id,
            version=1,
            after={"email": user.email, "roles": list(user.roles), "canExport": can_export},
        )
        await self._writes.write(change, actor)
        return user

    async def get_user(self, user_id: str) -> User | None:
        doc = await self._db[USERS].find_one({"_id": user_id})
        return _user(doc) if doc is not None and self._valid(USERS, doc) else None

    async def list_users(self) -> list[User]:
        found = self._db[USERS].find({}, sort=[("_id", 1)])
        return [_user(d) async for d in found if self._valid(USERS, d)]

    async def _admins(self) -> list[dict[str, Any]]:
        return await self._db[USERS].find({"roles": ADMIN}, {"_v": 1}).to_list()

    async def update_user(
        self,
        user_id: str,
        expected_version: int,
        actor: Actor,
        roles: Sequence[str] | None,
        can_export: bool | None,
    ) -> User:
        doc = await self._db[USERS].find_one({"_id": user_id})
        if doc is None or not self._valid(USERS, doc):
            raise NotFoundError("no user with this id", id=user_id)
        current = _user(doc)
        if current.version != expected_version:
            raise ConflictError(
                f"the user is at version {current.version}", currentVersion=current.version
            )
        after: dict[str, Any] = {}
        before: dict[str, Any] = {}
        guard = None
        if roles is not None:
            await self._check_roles_exist(roles)
            new_roles = list(dict.fromkeys(roles))
            before["roles"], after["roles"] = list(current.roles), new_roles
            if ADMIN in current.roles and ADMIN not in new_roles:
                admins = await self._admins()
                if [a["_id"] for a in admins] == [user_id]:
                    raise ConflictError(
                        "the last admin of a tenant keeps the admin role", field="roles"
                    )
                # Of two changes that each take admin from a different user, only one may
                # pass: both claim the same admin set, versions included.
                state = ",".join(sorted(f"{a['_id']}:{a['_v']}" for a in admins))
                guard = "admins/" + hashlib.sha256(state.encode()).hexdigest()
        if can_export is not None:
            before["canExport"], after["canExport"] = current.can_export, can_export
        if not after:
            raise BadUserInputError("nothing to change", field="input")
        change = Change(
            op="update",
            collection=USERS,
            record_id=user_id,
            version=expected_version + 1,
            before=before,
            after=after,
        )
        await self._writes.write(change, actor, guard=guard)
        return User(
            id=user_id,
            email=current.email,
            roles=tuple(after.get("roles", current.roles)),
            can_export=after.get("canExport", current.can_export),
            version=expected_version + 1,
        )

    # -- roles -----------------------------------------------------------------------------

    async def list_roles(self) -> list[Role]:
        cursor = self._db[ROLES].find({"_deleted": {"$ne": True}}, sort=[("_id", 1)])
        return [_role(d) async for d in cursor if self._valid(ROLES, d)]

    async def put_role(
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

    async def delete_role(self, name: str, expected_version: int, actor: Actor) -> Role:
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

    async def role_versions(self, name: str) -> list[RoleVersion]:
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
        latest = 0
        for coll in (ROLES, USERS):
            doc = await self._db[coll].find_one({}, {"_seq": 1}, sort=[("_seq", DESCENDING)])
            if doc is not None:
                latest = max(latest, int(doc.get("_seq", 0)))
        return latest


async def ensure_access_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    await db[USERS].create_index("email", unique=True)
    await db[USERS].create_index("roles")
    await db[USERS].create_index("_seq")
    await db[ROLES].create_index("_seq")
