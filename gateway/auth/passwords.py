"""Password hashing off the event loop, with bounded and fair concurrency.

argon2id costs about 150 ms of CPU per hash or verification. It runs in a thread pool of
``concurrency`` threads (argon2-cffi releases the GIL while it hashes), so the event loop
keeps serving every tenant meanwhile; at most ``queue`` more wait for a thread, and a burst
beyond that is refused at once with ``RATE_LIMITED`` (429, ``Retry-After: 1``) instead of
piling up. No one *owner* (the tenant named) may hold more than a quarter of those places,
so a burst aimed at one or two tenants cannot make every other tenant's sign-in 429.

New hashes use parallelism 1 (one OS thread per hash: RFC 9106's memory and time cost,
t=3 and 64 MiB, in one lane), so the pool's ``concurrency`` is the number of cores hashing
(keep it at most the cores minus one). A hash keeps the parameters it was made with, and
libargon2 verifies it with one thread per lane: a hash made with argon2-cffi's default
parallelism 4 (before this) still takes 4 threads while it is verified.

``verifications`` counts the verifications run, so tests can check that every refusal
costs the same one verification (they assert work, not time).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TypeVar

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from schema.errors import RateLimitedError

__all__ = ["PasswordHashing"]

_T = TypeVar("_T")
#: RFC 9106's low-memory profile (t=3, 64 MiB) in one lane: one OS thread per hash.
_ONE_LANE = replace(profiles.RFC_9106_LOW_MEMORY, parallelism=1)


class PasswordHashing:
    def __init__(self, concurrency: int, queue: int) -> None:
        self._hasher = PasswordHasher.from_parameters(_ONE_LANE)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="argon2")
        self._capacity = concurrency + queue
        self._per_owner = max(1, self._capacity // 4)
        self._pending = 0
        self._owners: dict[str, int] = {}
        self._dummy: str | None = None
        self._lock = threading.Lock()
        self.verifications = 0
        #: The ids of the threads that ran verifications (the tests check: not the loop's).
        self.threads: set[int] = set()

    async def hash(self, password: str, owner: str) -> str:
        return await self._run(owner, self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str, owner: str) -> bool:
        """Whether *password* matches *password_hash*; with no hash (no such user, no
        password set) it verifies against a dummy hash, so that the refusal costs the same.
        *owner* is whom the work is for (the tenant named), for fairness."""
        return await self._run(owner, self._verify, password_hash, password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        with self._lock:
            self.verifications += 1
            self.threads.add(threading.get_ident())
        if password_hash is None:
            with self._lock:
                if self._dummy is None:
                    self._dummy = self._hasher.hash(secrets.token_urlsafe(16))
            password_hash, real = self._dummy, False
        else:
            real = True
        try:
            return self._hasher.verify(password_hash, password) and real
        except (VerificationError, InvalidHashError):
            return False

    async def _run(self, owner: str, work: Callable[..., _T], *args: object) -> _T:
        held = self._owners.get(owner, 0)
        if self._pending >= self._capacity or held >= self._per_owner:
            raise RateLimitedError(1)
        loop = asyncio.get_running_loop()
        self._pending += 1
        self._owners[owner] = held + 1
        future = self._pool.submit(work, *args)
        # Released when the thread is done, not when the caller stops waiting for it.
        future.add_done_callback(lambda _: self._release_from(loop, owner))
        return await asyncio.wrap_future(future)

    def _release_from(self, loop: asyncio.AbstractEventLoop, owner: str) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (shutdown)
            loop.call_soon_threadsafe(self._release, owner)

    def _release(self, owner: str) -> None:
        self._pending -= 1
        left = self._owners.pop(owner) - 1
        if left:
            self._owners[owner] = left

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
