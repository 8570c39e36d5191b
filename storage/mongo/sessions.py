"""Sign-in sessions of one tenant's users: who a session belongs to, its scope, and the
SHA-256 of its current refresh secret.

FerretDB 1.x applies an update by reading the document and writing it back by ``_id``, so
two concurrent refreshes could both see the same secret as current, and a rotation's write
could undo a concurrent sign-out. Both are settled by *inserting* under the unique ``_id``
of ``session_claims`` (DESIGN.md, "What is atomic"):

- ``<sid>/<digest>``: the one use of a refresh secret. Of concurrent uses one inserts it;
  every other use is a reuse, and ends the session. The winner checks the secret is still
  current after claiming; the claim stays, marking the secret retired: a later use of it
  ends the session, while a secret that was never the session's is only refused.
- ``<sid>/ended``: the session is over. Written before ``revoked`` is set on the session,
  and a rotation looks for it after its own write, so a sign-out is never lost.

A session carries a MAC (:mod:`storage.documentmac`) of its user, scope, secret hash, expiry
and ``revoked``, rewritten with each change: one made up or edited in the database is
treated as absent. Of a rotation and a sign-out racing, whichever lands last may leave a
MAC of a state the session does not show; that state has ``revoked`` set (or fails the
MAC), so it is refused either way, as the sign-out wanted.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import secrets
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from ulid import ULID

from storage.contract.sessions import SessionStore
from storage.documentmac import MAC_FIELD, DocumentAuthenticator
from storage.mongo.decryption import tenant_of_database, tenant_scoped
from storage.mongo.errors import MapsDriverErrors
from storage.values import SessionInfo

__all__ = ["SESSIONS", "SESSION_CLAIMS", "SESSION_INDEXES", "MongoSessions"]

SESSIONS, SESSION_CLAIMS = "sessions", "session_claims"
#: Sessions are kept this long after they expired.
_KEEP = dt.timedelta(days=1)
#: A session's claims are kept this long more (a refresh token's lifetime).
_CLAIMS_KEPT = dt.timedelta(days=30)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _secret() -> str:
    return secrets.token_urlsafe(32).replace("_", "-")  # "_" separates a refresh token's parts


@tenant_scoped(tenant_of_database)
class MongoSessions(MapsDriverErrors, SessionStore):
    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], documents: DocumentAuthenticator, region: str
    ) -> None:
        self._db = db
        self._db_name = db.name
        self._docs = documents
        self._region = region

    # Looked up when used, not with every tenant handle (most requests use no session).
    @functools.cached_property
    def _sessions(self) -> AsyncCollection[dict[str, Any]]:
        return self._db[SESSIONS]

    @functools.cached_property
    def _claims(self) -> AsyncCollection[dict[str, Any]]:
        return self._db[SESSION_CLAIMS]

    def _mac(self, doc: dict[str, Any]) -> str:
        return self._docs.seal(self._db_name, SESSIONS, str(doc["_id"]), doc)

    def _valid(self, doc: dict[str, Any]) -> bool:
        return self._docs.verify(self._db_name, SESSIONS, doc)

    async def _write(self, doc: dict[str, Any], changes: dict[str, Any]) -> None:
        """Set *changes* on the session *doc* (as read) with the MAC of the result."""
        changes[MAC_FIELD] = self._mac({**doc, **changes})
        await self._sessions.update_one({"_id": doc["_id"]}, {"$set": changes})

    async def open(
        self,
        user_id: str,
        ttl: dt.timedelta,
        scope: str | None = None,
        *,
        second_factor: bool = False,
    ) -> tuple[str, str]:
        sid, secret = str(ULID()), _secret()
        now = dt.datetime.now(dt.UTC)
        doc = {
            "_id": sid,
            "user": user_id,
            "scope": scope,
            "hash": _digest(secret),
            "createdAt": now,
            "expiresAt": now + ttl,
            "revoked": False,
            # Shown to admins, grants nothing: outside the MAC like createdAt, so sessions
            # opened before it was kept still verify.
            "secondFactor": second_factor,
        }
        await self._sessions.insert_one({**doc, MAC_FIELD: self._mac(doc)})
        return sid, secret

    async def rotate(
        self, sid: str, secret: str, ttl: dt.timedelta
    ) -> tuple[str, str, str | None] | None:
        doc = await self._sessions.find_one({"_id": sid})
        now = dt.datetime.now(dt.UTC)
        if doc is None or doc.get("revoked") or doc["expiresAt"] < now or not self._valid(doc):
            return None
        digest = _digest(secret)
        if not hmac.compare_digest(doc["hash"], digest):
            # Only a retired secret (its use claimed) ends the session: anyone can read a
            # sid in an access token, and a made-up secret must not end someone's session.
            if await self._claims.find_one({"_id": f"{sid}/{digest}"}, {"_id": 1}) is not None:
                await self.close(sid)
            return None
        if not await self._claim(f"{sid}/{digest}"):
            # A refresh secret used at once by two callers: someone has a copy.
            await self.close(sid)
            return None
        current = await self._sessions.find_one({"_id": sid}, {"hash": 1})
        if current is None or current["hash"] != digest:
            # Rotated by a use that read the session before us and has released its claim.
            await self.close(sid)
            return None
        fresh = _secret()
        await self._write(doc, {"hash": _digest(fresh), "expiresAt": now + ttl})
        if await self._claims.find_one({"_id": f"{sid}/ended"}, {"_id": 1}) is not None:
            # Ended while we rotated: our write-back may have undone its ``revoked``.
            await self._revoke(sid)
            return None
        # The claim stays: it marks the secret retired, so a later use of it (a copy) ends
        # the session. Claims go with their session (pruned once it has expired).
        return doc["user"], fresh, doc.get("scope")

    async def active(self, sid: str, user_id: str, scope: str | None) -> bool:
        doc = await self._sessions.find_one({"_id": sid})
        return (
            doc is not None
            and doc.get("user") == user_id
            and doc.get("scope") in (None, scope)  # a token may be narrower, never wider
            and not doc.get("revoked")
            and doc["expiresAt"] > dt.datetime.now(dt.UTC)
            and self._valid(doc)
        )

    async def of_user(self, user_id: str) -> list[SessionInfo]:
        now = dt.datetime.now(dt.UTC)
        found = self._sessions.find({"user": user_id, "revoked": False})
        live = [d for d in await found.to_list() if d["expiresAt"] > now and self._valid(d)]
        ended = {f"{d['_id']}/ended" for d in live}
        claims = self._claims.find({"_id": {"$in": sorted(ended)}}, {"_id": 1})
        gone = {c["_id"].removesuffix("/ended") for c in await claims.to_list()}
        return [
            SessionInfo(
                d["_id"],
                d["createdAt"],
                d["expiresAt"],
                d.get("scope"),
                d.get("secondFactor") is True,
            )
            for d in sorted(live, key=lambda d: d["createdAt"], reverse=True)
            if d["_id"] not in gone
        ]

    async def close(self, sid: str) -> None:
        await self._claim(f"{sid}/ended")
        await self._revoke(sid)

    async def _revoke(self, sid: str) -> None:
        doc = await self._sessions.find_one({"_id": sid})
        if doc is not None:
            await self._write(doc, {"revoked": True})

    async def close_all(self, user_id: str, keep: str | None = None) -> None:
        live = self._sessions.find({"user": user_id, "revoked": False}, {"_id": 1})
        for doc in await live.to_list():
            if doc["_id"] != keep:
                await self.close(doc["_id"])

    async def _claim(self, claim: str) -> bool:
        try:
            await self._claims.insert_one({"_id": claim, "at": dt.datetime.now(dt.UTC)})
        except DuplicateKeyError:
            return False
        return True

    async def prune(self) -> int:
        # Sessions expired a while ago, and claims older than a session lives without a
        # refresh (a retired secret that old is refused, no longer ends its session).
        cutoff = dt.datetime.now(dt.UTC) - _KEEP
        pruned = (await self._sessions.delete_many({"expiresAt": {"$lt": cutoff}})).deleted_count
        old_claims = {"at": {"$lt": cutoff - _CLAIMS_KEPT}}
        return pruned + (await self._claims.delete_many(old_claims)).deleted_count


#: Indexes for pruning and for ending a user's sessions (claims are found by ``_id``).
SESSION_INDEXES: dict[str, tuple[IndexModel, ...]] = {
    SESSION_CLAIMS: (IndexModel("at"),),
    SESSIONS: (IndexModel("user"), IndexModel("expiresAt")),  # user: ending all of a user's
}
