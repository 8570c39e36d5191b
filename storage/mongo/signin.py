"""Credentials and sessions of one tenant's users, for the built-in sign-in.

Passwords are argon2id hashes (hashed by the gateway); TOTP secrets are encrypted under
the tenant's key; sessions hold only the SHA-256 of their refresh secret. Setting a
password or a second factor goes through the audited write path; failed-attempt counters
and session bookkeeping are not record changes and are written directly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from ulid import ULID

from schema.datasheets import Field, FieldType, Sensitivity
from schema.errors import NotFoundError
from storage.base import Actor, Credentials, CredentialStore
from storage.mongo.codec import FieldCodec
from storage.mongo.decryption import tenant_of_database, tenant_scoped
from storage.mongo.setupcodes import SetupCodes
from storage.mongo.writes import Change, WritePath

__all__ = ["MongoCredentials"]

USERS, SESSIONS, SETTINGS = "users", "sessions", "settings"
_EMAIL = Field("email", FieldType.EMAIL, Sensitivity.DETERMINISTIC)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@tenant_scoped(tenant_of_database)
class MongoCredentials(CredentialStore):
    def __init__(self, db: AsyncDatabase[dict[str, Any]], codec: FieldCodec, writes: WritePath):
        self._db = db
        self._codec = codec
        self._writes = writes
        self._setup_codes = SetupCodes(db, writes)

    async def by_email(self, email: str) -> Credentials | None:
        doc = await self._db[USERS].find_one({"email": await self._codec.encrypt(_EMAIL, email)})
        if doc is None:
            return None
        return Credentials(
            user_id=doc["_id"],
            roles=tuple(doc.get("roles", ())),
            version=int(doc["_v"]),
            password_hash=doc.get("passwordHash"),
            totp_secret=doc.get("totpSecret"),
            totp_enabled=bool(doc.get("totpEnabled")),
            totp_pending=doc.get("totpPending"),
            failures=int(doc.get("failures", 0)),
            locked_until=doc.get("lockedUntil"),
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
        query: dict[str, Any] = {"user": user_id}
        if keep is not None:
            query["_id"] = {"$ne": keep}
        await self._db[SESSIONS].update_many(query, {"$set": {"revoked": True}})

    async def record_failure(
        self, user_id: str, failures: int, locked_until: dt.datetime | None
    ) -> None:
        await self._db[USERS].update_one(
            {"_id": user_id}, {"$set": {"failures": failures, "lockedUntil": locked_until}}
        )

    async def clear_failures(self, user_id: str) -> None:
        await self._db[USERS].update_one(
            {"_id": user_id}, {"$set": {"failures": 0, "lockedUntil": None}}
        )

    async def open_session(self, user_id: str, ttl: dt.timedelta) -> tuple[str, str]:
        sid, secret = str(ULID()), secrets.token_urlsafe(32).replace("_", "-")
        now = dt.datetime.now(dt.UTC)
        await self._db[SESSIONS].insert_one(
            {
                "_id": sid,
                "user": user_id,
                "hash": _digest(secret),
                "createdAt": now,
                "expiresAt": now + ttl,
                "revoked": False,
            }
        )
        return sid, secret

    async def rotate_session(
        self, sid: str, secret: str, ttl: dt.timedelta
    ) -> tuple[str, str] | None:
        doc = await self._db[SESSIONS].find_one({"_id": sid})
        now = dt.datetime.now(dt.UTC)
        if doc is None or doc.get("revoked") or doc["expiresAt"] < now:
            return None
        if not hmac.compare_digest(doc["hash"], _digest(secret)):
            # A refresh token used twice: someone has a copy. End the session.
            await self.close_session(sid)
            return None
        fresh = secrets.token_urlsafe(32).replace("_", "-")
        result = await self._db[SESSIONS].update_one(
            {"_id": sid, "hash": doc["hash"]},
            {"$set": {"hash": _digest(fresh), "expiresAt": now + ttl}},
        )
        return (doc["user"], fresh) if result.matched_count else None

    async def session_active(self, sid: str) -> bool:
        doc = await self._db[SESSIONS].find_one({"_id": sid}, {"revoked": 1, "expiresAt": 1})
        return (
            doc is not None
            and not doc.get("revoked")
            and (doc["expiresAt"] > dt.datetime.now(dt.UTC))
        )

    async def close_session(self, sid: str) -> None:
        await self._db[SESSIONS].update_one({"_id": sid}, {"$set": {"revoked": True}})

    async def two_factor_required(self) -> bool:
        doc = await self._db[SETTINGS].find_one({"_id": "security"})
        return bool(doc and doc.get("requireTwoFactor"))

    async def require_two_factor(self, required: bool, actor: Actor) -> None:
        doc = await self._db[SETTINGS].find_one({"_id": "security"}, {"_v": 1})
        version = int(doc["_v"]) if doc else 0
        change = Change(
            op="update" if doc else "create",
            collection=SETTINGS,
            record_id="security",
            version=version + 1,
            before={"requireTwoFactor": None},
            after={"requireTwoFactor": required},
        )
        await self._writes.write(change, actor)

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
