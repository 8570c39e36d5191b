"""Sign-in sessions of one tenant's users and their rotating refresh secrets."""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod

from storage.values import SessionInfo

__all__ = ["SessionStore"]


class SessionStore(ABC):
    """Sessions hold only a hash of their current refresh secret; a secret is used once."""

    @abstractmethod
    async def open(
        self,
        user_id: str,
        ttl: dt.timedelta,
        scope: str | None = None,
        *,
        second_factor: bool = False,
    ) -> tuple[str, str]:
        """A new session of *user_id* with *scope*, live for *ttl*: (session id, refresh
        secret). *second_factor*: the sign-in that opened it checked a second factor (shown
        to admins; it grants nothing)."""

    @abstractmethod
    async def rotate(
        self, sid: str, secret: str, ttl: dt.timedelta
    ) -> tuple[str, str, str | None] | None:
        """(user id, new refresh secret, session scope) if *secret* is the session's current
        one and no other use of it got there first: of concurrent uses at most one
        succeeds, and a secret used twice ends the session. None otherwise."""

    @abstractmethod
    async def active(self, sid: str, user_id: str, scope: str | None) -> bool:
        """Whether *sid* is a live session of *user_id* that allows *scope* (a session
        opened with a scope authenticates only tokens with that scope)."""

    @abstractmethod
    async def of_user(self, user_id: str) -> list[SessionInfo]:
        """The sessions of *user_id* open now (not ended, not expired, not changed outside
        the gateway), newest first; empty for a user with none or no such user."""

    @abstractmethod
    async def close(self, sid: str) -> None:
        """End one session (nothing if it is not there)."""

    @abstractmethod
    async def close_all(self, user_id: str, keep: str | None = None) -> None:
        """End every session of *user_id* but *keep*."""

    @abstractmethod
    async def prune(self) -> int:
        """Drop sessions expired a while ago and refresh claims past any use; how many
        documents went."""
