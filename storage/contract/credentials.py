"""What the built-in sign-in checks: passwords, second factors, attempt slots."""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod

from storage.values import Actor, Credentials

__all__ = ["CredentialStore"]


class CredentialStore(ABC):
    """Passwords (argon2id hashes, hashed by the gateway), TOTP secrets (encrypted), the
    attempt slots that bound guessing, and the tenant's two-factor requirement. Changes to a
    user's credentials are audited; attempt bookkeeping is not."""

    @abstractmethod
    async def by_email(self, email: str) -> Credentials | None:
        """The credentials of the user with *email*; None if there is none, or if the user
        document was changed outside the gateway (such a user cannot sign in)."""

    @abstractmethod
    async def by_id(self, user_id: str) -> Credentials | None:
        """The credentials of *user_id*; None as :meth:`by_email`."""

    @abstractmethod
    async def set_password_hash(self, user_id: str, password_hash: str, actor: Actor) -> None:
        """Store an argon2id hash; audited. ``NotFoundError`` for no such user."""

    @abstractmethod
    async def clear_password(self, user_id: str, actor: Actor) -> None:
        """Remove the user's password (a breach's containment): they cannot sign in until
        an admin or an operator's setup code gives them a new one; audited.
        ``NotFoundError`` for no such user."""

    @abstractmethod
    async def set_totp_pending(self, user_id: str, secret: str, actor: Actor) -> None:
        """Store (encrypted) a TOTP secret being enrolled, beside any active one; audited.
        ``NotFoundError`` for no such user."""

    @abstractmethod
    async def activate_totp(self, user_id: str, actor: Actor) -> None:
        """Make the pending TOTP secret the active one; audited. ``NotFoundError`` if none
        is being enrolled."""

    @abstractmethod
    async def claim_totp_step(self, user_id: str, step: int) -> bool:
        """True once per TOTP time step of *user_id* (atomic under concurrency), False for
        every later claim: a code is accepted at most once."""

    @abstractmethod
    async def reserve_attempt(
        self, user_id: str | None, email: str, slots: int, window: dt.timedelta
    ) -> bool:
        """Take one of the *slots* attempt slots of an account (a known user by id, an
        unknown *email* by a keyed digest of it) before its password or code is checked;
        False if all are taken by attempts younger than *window* (locked out). A slot is
        taken by an insert under a unique ``_id``, so of concurrent attempts at most *slots*
        get one, and the database work is the same for known, unknown and locked accounts."""

    @abstractmethod
    async def clear_attempts(self, user_id: str) -> None:
        """Free every attempt slot of *user_id* (after a success)."""

    @abstractmethod
    async def two_factor_required(self) -> bool:
        """Whether the tenant requires two-factor sign-in; True if the setting was changed
        outside the gateway (the stricter setting holds)."""

    @abstractmethod
    async def require_two_factor(self, required: bool, actor: Actor) -> None:
        """The tenant's admins require (or stop requiring) two-factor sign-in; audited."""

    @abstractmethod
    async def prune(self) -> int:
        """Drop attempt slots and used TOTP steps past any use; how many documents went."""
