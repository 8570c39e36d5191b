"""The users of one tenant (identity, roles, export right), changed through the audit."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from storage.values import Actor, User

__all__ = ["UserStore"]


class UserStore(ABC):
    """Users of one tenant. A user document changed outside the gateway (its MAC fails) is
    treated as absent: it cannot sign in and grants nothing."""

    @abstractmethod
    async def create(
        self, email: str, roles: Sequence[str], actor: Actor, *, can_export: bool = False
    ) -> User:
        """Create a user at version 1; audited. ``ConflictError`` (field ``email``) if the
        email is taken, ``BadUserInputError`` (field ``roles``) for an unknown role."""

    @abstractmethod
    async def get(self, user_id: str) -> User | None:
        """The user *user_id*, None if there is none."""

    @abstractmethod
    async def all(self) -> list[User]:
        """Every user of the tenant, by id; [] for none."""

    @abstractmethod
    async def update(
        self,
        user_id: str,
        expected_version: int,
        actor: Actor,
        *,
        roles: Sequence[str] | None = None,
        can_export: bool | None = None,
    ) -> User:
        """Change a user's roles or export right at *expected_version*; audited; the user at
        the next version. ``NotFoundError`` for no such user, ``ConflictError`` at another
        version or when it would take the last admin's role, ``BadUserInputError`` for an
        unknown role or nothing to change."""
