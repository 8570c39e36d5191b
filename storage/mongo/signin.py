"""Credentials and sessions of one tenant's users, for the built-in sign-in.

Passwords are argon2id hashes (hashed by the gateway); TOTP secrets are encrypted under
the tenant's key; sessions hold only the SHA-256 of their refresh secret
(``storage.mongo.sessions``). Setting a password or a second factor goes through the
audited write path; failed attempts and session bookkeeping are not record changes and are
written directly, by inserts where concurrency matters: a sign-in attempt takes one of a
few slots ``<account>/<n>`` in ``signin_failures`` by inserting it under its unique ``_id``
*before* the password is checked (so of a burst at most that many count; a success frees
them), and a TOTP time step is used by inserting ``<user>/<step>`` into ``totp_steps``
under its unique ``_id``.

Every public method maps driver errors (``maps_driver_errors``): an unreachable region is
``REGION_UNAVAILABLE``, never a driver exception.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from schema.datasheets import EMAIL
from schema.errors import NotFoundError
from storage.base import Actor, Credentials, CredentialStore
from storage.mongo.codec import FieldCodec
from storage.mongo.decryption import tenant_of_database, tenant_scoped
from storage.mongo.errors import maps_driver_errors
from storage.mongo.sessions import SESSION_CLAIMS, SESSIONS, Sessions
from storage.mongo.setupcodes import SetupCodes
from storage.mongo.writes import Change, WritePath

__all__ = ["MongoCredentials", "ensure_signin_indexes"]

USERS, SETTINGS = "users", "settings"
FAILURES, TOTP_STEPS = "signin_failures", "totp_steps"
#: Failed attempts and used TOTP steps are kept this long (far beyond any lock-out).
_KEEP = dt.timedelta(days=1)
#: A session's claims are kept this long more (a refresh token's lifetime).
_CLAIMS_KEPT = dt.timedelta(days=30)
#: At most this many attempt slots per account (clearing frees them all).
_MAX_SLOTS = 8


def _slots(key: str, slots: int) -> list[str]:
    return [f"{key}/{n}" for n in range(min(slots, _MAX_SLOTS))]


@maps_driver_errors
@tenant_scoped(tenant_of_database)
class MongoCredentials(CredentialStore):
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
        self._setup_codes = SetupCodes(db, writes)
        self._sessions = Sessions(db, writes.documents)

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

    async def close_sessions(self, user_id: str, keep: str | None = None) -> None:
        await self._sessions.end_all(user_id, keep)

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
        # Sessions expired a while ago, and claims older than a session lives without a
        # refresh (a retired secret that old is refused, no longer ends its session).
        pruned += (
            await self._db[SESSIONS].delete_many({"expiresAt": {"$lt": cutoff}})
        ).deleted_count
        old_claims = {"at": {"$lt": cutoff - _CLAIMS_KEPT}}
        return pruned + (await self._db[SESSION_CLAIMS].delete_many(old_claims)).deleted_count

    async def open_session(
        self, user_id: str, ttl: dt.timedelta, scope: str | None = None
    ) -> tuple[str, str]:
        return await self._sessions.open(user_id, ttl, scope)

    async def rotate_session(
        self, sid: str, secret: str, ttl: dt.timedelta
    ) -> tuple[str, str, str | None] | None:
        return await self._sessions.rotate(sid, secret, ttl)

    async def session_active(self, sid: str, user_id: str, scope: str | None) -> bool:
        return await self._sessions.active(sid, user_id, scope)

    async def close_session(self, sid: str) -> None:
        await self._sessions.end(sid)

    async def two_factor_required(self) -> bool:
        doc = await self._db[SETTINGS].find_one({"_id": "security"})
        if doc is not None and not self._docs.verify(self._db.name, SETTINGS, doc):
            return True  # changed outside the gateway: the stricter setting holds
        return bool(doc and doc.get("requireTwoFactor"))

    async def require_two_factor(self, required: bool, actor: Actor) -> None:
        await self._writes.set_setting("security", "requireTwoFactor", required, actor)

    async def issue_setup_code(
        self, user_id: str, ttl: dt.timedelta, actor: Actor
    ) -> tuple[str, dt.datetime]:
        if await self._db[USERS].count_documents({"_id": user_id}, limit=1) == 0:
            raise NotFoundError("no user with this id")
        return await self._setup_codes.issue(user_id, ttl, actor)

    async def redeem_setup_code(self, user_id: str, code: str, actor: Actor) -> bool:
        return await self._setup_codes.redeem(user_id, code, actor)

    async def setup_code_pending(self, user_id: str) -> bool:
        return await self._setup_codes.pending(user_id)


async def ensure_signin_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Indexes for pruning and for ending a user's sessions (real MongoDB uses them; attempt
    slots and claims are found by ``_id``)."""
    for coll in (FAILURES, TOTP_STEPS, SESSION_CLAIMS):
        await db[coll].create_index("at")
    await db[SESSIONS].create_index("user")  # ending every session of a user
    await db[SESSIONS].create_index("expiresAt")
