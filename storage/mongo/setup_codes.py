"""One-time setup codes: how a user without a password (a tenant's first admin) sets one.

An operator issues a code (``enclave tenants create`` / ``reset-admin-code``) and hands it
to the client's admin, who sets their password with it. Only the SHA-256 of the 256-bit
code is stored (a fast hash is right for a random secret, as for API keys), with its user
and expiry; issuing one replaces the user's earlier codes and is an audit event in the
tenant's log, so a code an operator issued is always visible to the tenant's admins.

A code is used once: it is claimed by *inserting* ``{_id: "<hash>/used"}`` under the
collection's unique ``_id`` (FerretDB 1.x applies updates by reading and writing back, so
two redeemers could both see a code unused; an insert under a unique key is atomic), so of
two concurrent uses exactly one gets it.

A code's document carries a MAC of its user and expiry bound to its ``_id`` (the hash), under
a key the database never holds (:mod:`storage.documentmac`): a code inserted or edited in
the database is not a code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from schema.errors import NotFoundError
from storage.contract.setup_codes import SetupCodeStore
from storage.mongo.changes import USERS
from storage.mongo.decryption import tenant_of_database, tenant_scoped
from storage.mongo.errors import MapsDriverErrors
from storage.mongo.writes import WritePath, now
from storage.values import Actor

__all__ = ["SETUP_CODES", "MongoSetupCodes"]

SETUP_CODES = "setup_codes"


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@tenant_scoped(tenant_of_database)
class MongoSetupCodes(MapsDriverErrors, SetupCodeStore):
    def __init__(self, db: AsyncDatabase[dict[str, Any]], writes: WritePath, region: str) -> None:
        self._db = db
        self._writes = writes
        self._region = region

    async def issue(self, user_id: str, ttl: dt.timedelta, actor: Actor) -> tuple[str, dt.datetime]:
        if await self._db[USERS].count_documents({"_id": user_id}, limit=1) == 0:
            raise NotFoundError("no user with this id")
        code, at = secrets.token_urlsafe(32), now()
        expires = at + ttl
        codes = self._db[SETUP_CODES]
        # Audited before the code exists: a code is never usable without its entry.
        await self._writes.record_event(
            "setup_code",
            actor,
            at=at,
            detail={"user": user_id, "expiresAt": expires},
            record=user_id,
        )
        await codes.delete_many({"user": user_id})
        doc = {"_id": _digest(code), "user": user_id, "createdAt": at, "expiresAt": expires}
        await codes.insert_one(self._writes.documents.sealed(self._db.name, SETUP_CODES, doc))
        return code, expires

    async def redeem(self, user_id: str, code: str, actor: Actor) -> bool:
        digest = _digest(code)
        codes = self._db[SETUP_CODES]
        doc = await codes.find_one({"_id": digest, "user": {"$exists": True}})
        if doc is None or doc["user"] != user_id or doc["expiresAt"] <= now():
            return False
        if not self._writes.documents.verify(self._db.name, SETUP_CODES, doc):
            return False  # not issued by a gateway or the CLI
        try:
            await codes.insert_one({"_id": f"{digest}/used", "at": now()})
        except DuplicateKeyError:
            return False
        # The caller's IP address and user agent go into the entry's encrypted values.
        await self._writes.record_event(
            "setup_code_used", actor, at=now(), detail={"user": user_id}, values={}, record=user_id
        )
        await codes.delete_one({"_id": digest})
        return True

    async def pending(self, user_id: str) -> bool:
        return await self._db[SETUP_CODES].count_documents({"user": user_id}, limit=1) > 0
