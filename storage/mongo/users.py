"""Users of one tenant, changed through the audited write path.

A user document carries a MAC (:mod:`storage.documentmac`): one written or changed in the
database is treated as absent. Of two changes that could each take the last admin's role,
only one passes: both claim the same admin set (the write path's ``guard``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from ulid import ULID

from schema.errors import BadUserInputError, ConflictError, NotFoundError
from schema.roles import ADMIN
from storage.contract.users import UserStore
from storage.mongo.changes import USERS, Change, declared_fields
from storage.mongo.codec import FieldCodec
from storage.mongo.decryption import tenant_of_database, tenant_scoped
from storage.mongo.errors import MapsDriverErrors
from storage.mongo.roles import check_roles_exist
from storage.mongo.writes import WritePath
from storage.values import Actor, User

__all__ = ["USER_INDEXES", "MongoUsers"]


def _user(doc: Mapping[str, Any]) -> User:
    return User(
        id=doc["_id"],
        email=doc["email"],
        roles=tuple(doc.get("roles", ())),
        can_export=bool(doc.get("canExport", False)),
        version=int(doc.get("_v", 1)),
    )


@tenant_scoped(tenant_of_database)
class MongoUsers(MapsDriverErrors, UserStore):
    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], codec: FieldCodec, writes: WritePath, region: str
    ) -> None:
        self._db = db
        self._codec = codec
        self._writes = writes
        self._region = region

    def _valid(self, doc: Mapping[str, Any] | None) -> bool:
        """Whether *doc* was written by a gateway (its MAC verifies); a user who was not
        cannot sign in and holds no role."""
        return self._writes.documents.verify(self._db.name, USERS, doc)

    async def create(
        self, email: str, roles: Sequence[str], actor: Actor, *, can_export: bool = False
    ) -> User:
        await check_roles_exist(self._db, roles)
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

    async def get(self, user_id: str) -> User | None:
        doc = await self._db[USERS].find_one({"_id": user_id})
        return _user(doc) if doc is not None and self._valid(doc) else None

    async def all(self) -> list[User]:
        found = self._db[USERS].find({}, sort=[("_id", 1)])
        return [_user(d) async for d in found if self._valid(d)]

    async def _admins(self) -> list[dict[str, Any]]:
        return await self._db[USERS].find({"roles": ADMIN}, {"_v": 1}).to_list()

    async def update(
        self,
        user_id: str,
        expected_version: int,
        actor: Actor,
        *,
        roles: Sequence[str] | None = None,
        can_export: bool | None = None,
    ) -> User:
        doc = await self._db[USERS].find_one({"_id": user_id})
        if doc is None or not self._valid(doc):
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
            await check_roles_exist(self._db, roles)
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


USER_INDEXES: dict[str, tuple[IndexModel, ...]] = {
    USERS: (IndexModel("email", unique=True), IndexModel("roles"), IndexModel("_seq"))
}
