"""The role definitions of one tenant, their history, and the policy version."""

from __future__ import annotations

from abc import ABC, abstractmethod

from schema.roles import RoleDefinition
from storage.values import Actor, Role, RoleVersion

__all__ = ["RoleStore"]


class RoleStore(ABC):
    """Roles the tenant's admins define (the built-in admin role is not stored). Every
    change is audited; the log keeps each committed version's full definition."""

    @abstractmethod
    async def all(self) -> list[Role]:
        """The tenant's stored roles, by name; [] for none. A role changed outside the
        gateway (its MAC fails) is left out: it grants nothing."""

    @abstractmethod
    async def put(
        self, definition: RoleDefinition, expected_version: int | None, actor: Actor
    ) -> Role:
        """Create a role (*expected_version* None) or replace one at *expected_version*;
        the role at its new version. ``ConflictError`` if it exists (create) or is at
        another version, ``NotFoundError`` (replace) if it does not exist."""

    @abstractmethod
    async def delete(self, name: str, expected_version: int, actor: Actor) -> Role:
        """Delete a role at *expected_version*; its last definition at the deleting
        version. ``NotFoundError``, or ``ConflictError`` at another version or while a user
        holds it."""

    @abstractmethod
    async def versions(self, name: str) -> list[RoleVersion]:
        """Every committed version of a role, oldest first (definition None where it was
        deleted). ``NotFoundError`` if the role never existed."""

    @abstractmethod
    async def policy_version(self) -> int:
        """A number that grows whenever a role or a user's roles change (a new tenant's
        first admin already counts, so it is at least 1)."""
