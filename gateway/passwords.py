"""Password hashing off the event loop, with bounded concurrency.

argon2id costs about 150 ms of CPU per hash or verification. It runs in a thread pool of
``concurrency`` threads (argon2-cffi releases the GIL while it hashes), so the event loop
keeps serving every tenant meanwhile; at most ``queue`` more wait for a thread, and a burst
beyond that is refused at once with ``RATE_LIMITED`` (429, ``Retry-After: 1``) instead of
piling up.

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
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.ratelimit import RateLimitedError

__all__ = ["PasswordHashing"]

_T = TypeVar("_T")


class PasswordHashing:
    def __init__(self, concurrency: int, queue: int) -> None:
        self._hasher = PasswordHasher()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="argon2")
        self._capacity = concurrency + queue
        self._pending = 0
        self._dummy: str | None = None
        self._lock = threading.Lock()
        self.verifications = 0
        #: The ids of the threads that ran verifications (the tests check: not the loop's).
        self.threads: set[int] = set()

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether *password* matches *password_hash*; with no hash (no such user, no
        password set) it verifies against a dummy hash, so that the refusal costs the same."""
        return await self._run(self._verify, password_hash, password)

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

    async def _run(self, work: Callable[..., _T], *args: object) -> _T:
        if self._pending >= self._capacity:
            raise RateLimitedError(1)
        loop = asyncio.get_running_loop()
        self._pending += 1
        future = self._pool.submit(work, *args)
        # Released when the thread is done, not when the caller stops waiting for it.
        future.add_done_callback(lambda _: self._release_from(loop))
        return await asyncio.wrap_future(future)

    def _release_from(self, loop: asyncio.AbstractEventLoop) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (shutdown)
            loop.call_soon_threadsafe(self._release)

    def _release(self) -> None:
        self._pending -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
