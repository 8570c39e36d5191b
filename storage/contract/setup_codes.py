"""One-time codes with which a user sets a password (issued by an admin or operator)."""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod

from storage.values import Actor

__all__ = ["SetupCodeStore"]


class SetupCodeStore(ABC):
    """Codes are stored hashed; issuing and using one are audited."""

    @abstractmethod
    async def issue(self, user_id: str, ttl: dt.timedelta, actor: Actor) -> tuple[str, dt.datetime]:
        """A new code for *user_id* and its expiry; replaces the user's earlier codes.
        ``NotFoundError`` for no such user."""

    @abstractmethod
    async def redeem(self, user_id: str, code: str, actor: Actor) -> bool:
        """True exactly once for a valid, unexpired code of *user_id* (atomic under
        concurrency), False otherwise; audited when it is used."""

    @abstractmethod
    async def pending(self, user_id: str) -> bool:
        """Whether *user_id* has an unused code on file (expired or not)."""
