"""API keys of one tenant: stored hashed, scoped to one role, revocable.

A key is shown once, at creation: ``enk_<tenant id>_<key id>_<secret>``. The tenant id in
it routes the request with no lookup; only the SHA-256 of the 256-bit secret is stored
(a fast hash is right for a random secret; passwords get argon2). Creation and revocation
go through the audited write path; the last-use time is bookkeeping, updated at most once
a minute per gateway, in a document of its own (``api_key_uses``): FerretDB 1.x writes a
whole document back on update, so a last-use write to the key's own document could undo a
revocation made meanwhile. A key's document carries a MAC of its name, role, export right,
hash, revocation and version (:mod:`storage.documentmac`): one written or changed in the
database is no key.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from ulid import ULID

from schema.errors import BadUserInputError, NotFoundError
from schema.roles import ADMIN
from storage.contract.api_keys import ApiKeyStore, format_api_key
from storage.contract.roles import RoleStore
from storage.mongo.changes import Change
from storage.mongo.decryption import tenant_of_database, tenant_scoped
from storage.mongo.errors import MapsDriverErrors
from storage.mongo.writes import WritePath
from storage.values import Actor, ApiKey

__all__ = ["API_KEYS", "MongoApiKeys"]

API_KEYS = "api_keys"
USES = "api_key_uses"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key(doc: Mapping[str, Any], used: dt.datetime | None = None) -> ApiKey:
    return ApiKey(
        id=doc["_id"],
        name=doc["name"],
        role=doc["role"],
        can_export=bool(doc.get("canExport")),
        created_at=doc["_created"],
        revoked=bool(doc.get("revoked")),
        last_used_at=used or doc.get("lastUsedAt"),
        version=int(doc["_v"]),
    )


@tenant_scoped(tenant_of_database)
class MongoApiKeys(MapsDriverErrors, ApiKeyStore):
    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        writes: WritePath,
        roles: RoleStore,
        tenant_id: str,
        region: str,
    ) -> None:
        self._db = db
        self._writes = writes
        self._roles = roles
        self._tenant = tenant_id
        self._region = region

    async def create(
        self, name: str, role: str, can_export: bool, actor: Actor
    ) -> tuple[ApiKey, str]:
        if role != ADMIN and role not in {r.definition.name for r in await self._roles.all()}:
            raise BadUserInputError(f"unknown role {role!r}", field="role")
        key_id, secret = str(ULID()), secrets.token_urlsafe(32).replace("_", "-")
        change = Change(
            op="create",
            collection=API_KEYS,
            record_id=key_id,
            version=1,
            after={
                "name": name,
                "role": role,
                "canExport": can_export,
                "hash": _hash(secret),
                "revoked": False,
            },
        )
        _, at = await self._writes.write(change, actor)
        plain = format_api_key(self._tenant, key_id, secret)
        return ApiKey(key_id, name, role, can_export, at, False, None, 1), plain

    def _valid(self, doc: Mapping[str, Any] | None) -> bool:
        """Whether *doc* was written by a gateway; one that was not is treated as absent."""
        return self._writes.documents.verify(self._db.name, API_KEYS, doc)

    async def all(self) -> list[ApiKey]:
        found = self._db[API_KEYS].find({}, sort=[("_id", 1)])
        keys = [d async for d in found if self._valid(d)]
        uses = self._db[USES].find({"_id": {"$in": [d["_id"] for d in keys]}})
        used = {u["_id"]: u.get("at") async for u in uses}
        return [_key(d, used.get(d["_id"])) for d in keys]

    async def revoke(self, key_id: str, actor: Actor) -> ApiKey:
        doc = await self._db[API_KEYS].find_one({"_id": key_id})
        if doc is None or not self._valid(doc):
            raise NotFoundError("no API key with this id")
        if doc.get("revoked"):
            return _key(doc)
        version = int(doc["_v"])
        change = Change(
            op="update",
            collection=API_KEYS,
            record_id=key_id,
            version=version + 1,
            before={"revoked": False},
            after={"revoked": True},
        )
        await self._writes.write(change, actor)
        return _key({**doc, "revoked": True, "_v": version + 1})

    async def check(self, key_id: str, secret: str) -> ApiKey | None:
        doc = await self._db[API_KEYS].find_one({"_id": key_id})
        if doc is None or doc.get("revoked"):
            return None
        if not hmac.compare_digest(str(doc.get("hash", "")), _hash(secret)):
            return None
        return _key(doc) if self._valid(doc) else None

    async def touch(self, key_id: str, at: dt.datetime) -> None:
        # Of two first uses at once one inserts and the other finds it taken: either time will do.
        with contextlib.suppress(DuplicateKeyError):
            await self._db[USES].update_one({"_id": key_id}, {"$set": {"at": at}}, upsert=True)
