"""Credentials of one tenant's users, for the built-in sign-in.

Passwords are argon2id hashes (hashed by the gateway); TOTP secrets are encrypted under
the tenant's key. Setting a password or a second factor goes through the audited write
path; failed attempts are not record changes and are written directly, by inserts where
concurrency matters: a sign-in attempt takes one of a
few slots ``<account>/<n>`` in ``signin_failures`` by inserting it under its unique ``_id``
*before* the password is checked (so of a burst at most that many count; a success frees
them), and a TOTP time step is used by inserting ``<user>/<step>`` into ``totp_steps``
under its unique ``_id``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from schema.datasheets import EMAIL
from schema.errors import NotFoundError
from storage.contract.credentials import CredentialStore
from storage.mongo.changes import USERS, Change
from storage.mongo.codec import FieldCodec
from storage.mongo.decryption import tenant_of_database, tenant_scoped
from storage.mongo.errors import MapsDriverErrors
from storage.mongo.writes import WritePath
from storage.values import Actor, Credentials

__all__ = ["SIGNIN_INDEXES", "MongoCredentials"]

SETTINGS = "settings"
FAILURES, TOTP_STEPS = "signin_failures", "totp_steps"
#: Failed attempts and used TOTP steps are kept this long (far beyond any lock-out).
_KEEP = dt.timedelta(days=1)
#: At most this many attempt slots per account (clearing frees them all).
_MAX_SLOTS = 8


def _slots(key: str, slots: int) -> list[str]:
    return [f"{key}/{n}" for n in range(min(slots, _MAX_SLOTS))]


@tenant_scoped(tenant_of_database)
class MongoCredentials(MapsDriverErrors, CredentialStore):
    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        codec: FieldCodec,
        writes: WritePath,
        region: str,
    ) -> None:
        self._db = db
        self._codec = codec
        self._writes = writes
        self._region = region
        self._docs = writes.documents

    async def by_email(self, email: str) -> Credentials | None:
        doc = await self._db[USERS].find_one({"email": await self._codec.encrypt(EMAIL, email)})
        if doc is None or not self._docs.verify(self._db.name, USERS, doc):
            return None  # a user not written by a gateway cannot sign in
        return Credentials(
            user_id=doc["_id"],
            roles=tuple(doc.get("roles", ())),
            version=int(doc["_v"]),
            password_hash=doc.get("passwordHash"),
            totp_secret=doc.get("totpSecret"),
            totp_enabled=bool(doc.get("totpEnabled")),
            totp_pending=doc.get("totpPending"),
        )

    async def by_id(self, user_id: str) -> Credentials | None:
        doc = await self._db[USERS].find_one({"_id": user_id})
        return None if doc is None else await self.by_email(doc["email"])

    async def _change(self, user_id: str, after: dict[str, Any], actor: Actor) -> None:
        doc = await self._db[USERS].find_one({"_id": user_id}, {"_v": 1})
        if doc is None:
            raise NotFoundError("no user with this id")
        version = int(doc["_v"])
        change = Change(
            op="update",
            collection=USERS,
            record_id=user_id,
            version=version + 1,
            before=dict.fromkeys(after),
            after=after,
        )
        await self._writes.write(change, actor)

    async def set_password_hash(self, user_id: str, password_hash: str, actor: Actor) -> None:
        await self._change(user_id, {"passwordHash": password_hash}, actor)

    async def clear_password(self, user_id: str, actor: Actor) -> None:
        await self._change(user_id, {"passwordHash": None}, actor)

    async def set_totp_pending(self, user_id: str, secret: str, actor: Actor) -> None:
        await self._change(user_id, {"totpPending": secret}, actor)

    async def activate_totp(self, user_id: str, actor: Actor) -> None:
        doc = await self._db[USERS].find_one({"_id": user_id}, {"totpPending": 1})
        pending = doc.get("totpPending") if doc else None
        if not pending:
            raise NotFoundError("no second factor is being enrolled")
        await self._change(
            user_id, {"totpSecret": pending, "totpEnabled": True, "totpPending": None}, actor
        )

    async def reserve_attempt(
        self, user_id: str | None, email: str, slots: int, window: dt.timedelta
    ) -> bool:
        # Always the same work, all by ``_id`` equality (FerretDB finds that by its index; an
        # ``$in`` would scan the collection): one encryption, a find per slot, one delete,
        # one insert; for a known, an unknown and a locked account alike.
        digest = hashlib.sha256(bytes(await self._codec.encrypt(EMAIL, email))).hexdigest()
        ids = _slots(user_id or f"e{digest[:32]}", slots)
        now = dt.datetime.now(dt.UTC)
        failures = self._db[FAILURES]
        found = await asyncio.gather(*(failures.find_one({"_id": slot}) for slot in ids))
        free = [
            slot
            for slot, doc in zip(ids, found, strict=True)
            if doc is None or doc["at"] <= now - window
        ]
        # The first free slot, emptied if its attempt is older than the window; with none
        # free, the insert into a taken one fails: the same round trips. A slot a concurrent
        # attempt took first sends this one on to the next.
        for slot in free or ids[:1]:
            await failures.delete_one({"_id": slot, "at": {"$lte": now - window}})
            try:
                await failures.insert_one({"_id": slot, "at": now})
            except DuplicateKeyError:
                continue
            return True
        return False

    async def clear_attempts(self, user_id: str) -> None:
        failures = self._db[FAILURES]
        await asyncio.gather(
            *(failures.delete_one({"_id": s}) for s in _slots(user_id, _MAX_SLOTS))
        )

    async def claim_totp_step(self, user_id: str, step: int) -> bool:
        at = dt.datetime.now(dt.UTC)
        try:
            await self._db[TOTP_STEPS].insert_one(
                {"_id": f"{user_id}/{step}", "user": user_id, "at": at}
            )
        except DuplicateKeyError:
            return False
        return True  # old steps go in ``prune``, not here (no scan per sign-in)

    async def prune(self) -> int:
        cutoff = dt.datetime.now(dt.UTC) - _KEEP
        pruned = 0
        for coll in (FAILURES, TOTP_STEPS):
            pruned += (await self._db[coll].delete_many({"at": {"$lt": cutoff}})).deleted_count
        return pruned

    async def two_factor_required(self) -> bool:
        doc = await self._db[SETTINGS].find_one({"_id": "security"})
        if doc is not None and not self._docs.verify(self._db.name, SETTINGS, doc):
            return True  # changed outside the gateway: the stricter setting holds
        return bool(doc and doc.get("requireTwoFactor"))

    async def require_two_factor(self, required: bool, actor: Actor) -> None:
        await self._writes.set_setting("security", "requireTwoFactor", required, actor)


#: Indexes for pruning (real MongoDB uses them; attempt slots are found by ``_id``).
SIGNIN_INDEXES: dict[str, tuple[IndexModel, ...]] = {
    coll: (IndexModel("at"),) for coll in (FAILURES, TOTP_STEPS)
}
