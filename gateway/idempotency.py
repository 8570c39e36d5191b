"""Idempotent retries: a request sent again with the same ``Idempotency-Key`` gets the first
answer, and nothing is executed (or audited) a second time.

The first request with a key claims it in Redis (``SET NX``) as pending; when it finishes,
its answer is stored under the key, encrypted under the tenant's data key (an answer holds
personal data), for ``ttl`` seconds. A retry while the first is still running is
``CONFLICT``; the same key with a different request body is ``BAD_USER_INPUT``. Answers
that say the attempt did not happen (the region was down, an internal error) are not kept,
so a retry runs again. Keys are per principal: another user's key never matches.

Without Redis a request with an ``Idempotency-Key`` is refused (503, ``UNAVAILABLE``)
rather than risk running twice; requests without the header are unaffected.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from resolvers.context import Principal
from schema.errors import BadUserInputError, ConflictError, IdempotencyUnavailableError

__all__ = ["IdempotencyStore", "Stored", "forget_tenant"]

_NOT_HAPPENED = ("INTERNAL", "REGION_UNAVAILABLE")


@dataclass(frozen=True, slots=True)
class Stored:
    status: int
    ciphertext: bytes


def did_not_happen(body: bytes) -> bool:
    """Whether an answer says the operation may not have run (so it is not kept)."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return True
    errors = parsed.get("errors") or [] if isinstance(parsed, dict) else []
    return any((e.get("extensions") or {}).get("code") in _NOT_HAPPENED for e in errors)


async def forget_tenant(redis: aioredis.Redis, tenant_id: str) -> None:
    """Delete every key of a purged tenant (``enclave:<kind>:<tenant id>:…``: idempotent
    answers, rate-limit counters); without Redis they are left to expire."""
    with contextlib.suppress(RedisError, OSError):
        names = [name async for name in redis.scan_iter(match=f"enclave:*:{tenant_id}:*")]
        if names:
            await redis.delete(*names)


class IdempotencyStore:
    def __init__(self, redis: aioredis.Redis, ttl: int) -> None:
        self._redis = redis
        self._ttl = ttl

    @staticmethod
    def _key(principal: Principal, key: str) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return f"enclave:idem:{principal.tenant_id}:{principal.user_id}:{digest}"

    async def claim(
        self, principal: Principal, key: str, body: bytes, policy: str = ""
    ) -> Stored | None:
        """None if this request is the first with *key* (it now holds it); the first
        answer if that one finished. *policy* fingerprints what the caller may see: an
        answer is never replayed to a caller whose permissions have changed since."""
        if not 1 <= len(key) <= 200 or not key.isprintable():
            raise BadUserInputError(
                "Idempotency-Key must be 1 to 200 printable characters", header="Idempotency-Key"
            )
        body_hash = hashlib.sha256(body).hexdigest()
        name = self._key(principal, key)
        pending = json.dumps({"state": "pending", "hash": body_hash, "policy": policy})
        try:
            if await self._redis.set(name, pending, nx=True, ex=self._ttl):
                return None
            raw = await self._redis.get(name)
        except (RedisError, OSError):
            raise IdempotencyUnavailableError(
                "idempotent requests are unavailable right now; retry later"
            ) from None
        if raw is None:  # expired between the two calls: try once more
            return await self.claim(principal, key, body, policy)
        held = json.loads(raw)
        if held.get("hash") != body_hash:
            raise BadUserInputError(
                "this Idempotency-Key was used for a different request", header="Idempotency-Key"
            )
        if held.get("state") != "done":
            raise ConflictError("a request with this Idempotency-Key is still running")
        if held.get("policy") != policy:
            raise ConflictError(
                "your permissions changed since the first request with this Idempotency-Key: "
                "its answer is not repeated, and it is not run again"
            )
        return Stored(int(held["status"]), base64.b64decode(held["answer"]))

    async def complete(
        self,
        principal: Principal,
        key: str,
        body: bytes,
        status: int,
        ciphertext: bytes,
        policy: str = "",
    ) -> None:
        done = json.dumps(
            {
                "state": "done",
                "hash": hashlib.sha256(body).hexdigest(),
                "status": status,
                "answer": base64.b64encode(ciphertext).decode(),
                "policy": policy,
            }
        )
        try:
            await self._redis.set(self._key(principal, key), done, ex=self._ttl)
        except (RedisError, OSError):
            await self.release(principal, key)

    async def release(self, principal: Principal, key: str) -> None:
        with contextlib.suppress(RedisError, OSError):  # else it expires with its ttl
            await self._redis.delete(self._key(principal, key))
