"""Credentials and sessions of one tenant's users, for the built-in sign-in.

Passwords are argon2id hashes (hashed by the gateway); TOTP secrets are encrypted under
the tenant's key; sessions hold only the SHA-256 of their refresh secret
(``storage.mongo.sessions``). Setting a password or a second factor goes through the
audited write path; failed attempts and session bookkeeping are not record changes and are
written directly, by inserts where concurrency matters: a failed sign-in is one document
in ``signin_failures`` (a count, not a read-modify-write counter that concurrent failures
would overwrite), and a TOTP time step is used by inserting ``<user>/<step>`` into
``totp_steps`` under its unique ``_id``.

Every public method maps driver errors (``maps_driver_errors``): an unreachable region is
``REGION_UNAVAILABLE``, never a driver exception.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from ulid import ULID

from schema.datasheets import Field, FieldType, Sensitivity
from schema.errors import NotFoundError
from storage.base import Actor, Credentials, CredentialStore
from storage.mongo.codec import FieldCodec
from storage.mongo.decryption import tenant_of_database, tenant_scoped
from storage.mongo.errors import maps_driver_errors
from storage.mongo.sessions import Sessions
from storage.mongo.setupcodes import SetupCodes
from storage.mongo.writes import Change, WritePath

__all__ = ["MongoCredentials"]

USERS, SETTINGS = "users", "settings"
FAILURES, TOTP_STEPS = "signin_failures", "totp_steps"
_EMAIL = Field("email", FieldType.EMAIL, Sensitivity.DETERMINISTIC)
#: Failed attempts and used TOTP steps are kept this long (far beyond any lock-out).
_KEEP = dt.timedelta(days=1)


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
        self._setup_codes = SetupCodes(db, writes)
        self._sessions = Sessions(db)

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

    async def record_failure(self, user_id: str) -> None:
        at = dt.datetime.now(dt.UTC)
        failures = self._db[FAILURES]
        await failures.insert_one({"_id": str(ULID()), "user": user_id, "at": at})
        await failures.delete_many({"user": user_id, "at": {"$lt": at - _KEEP}})

    async def failures_since(self, user_id: str, since: dt.datetime) -> int:
        return await self._db[FAILURES].count_documents({"user": user_id, "at": {"$gt": since}})

    async def clear_failures(self, user_id: str) -> None:
        await self._db[FAILURES].delete_many({"user": user_id})

    async def claim_totp_step(self, user_id: str, step: int) -> bool:
        at = dt.datetime.now(dt.UTC)
        steps = self._db[TOTP_STEPS]
        try:
            await steps.insert_one({"_id": f"{user_id}/{step}", "user": user_id, "at": at})
        except DuplicateKeyError:
            return False
        await steps.delete_many({"user": user_id, "at": {"$lt": at - _KEEP}})
        return True

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
