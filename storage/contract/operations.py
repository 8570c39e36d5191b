"""A tenant's persisted GraphQL documents and its allow-list mode."""

from __future__ import annotations

from abc import ABC, abstractmethod

from storage.values import Actor

__all__ = ["OperationStore"]


class OperationStore(ABC):
    """A tenant's registered (persisted) GraphQL documents, by SHA-256 of their text, and
    whether the tenant runs only those (allow-list mode). No personal data."""

    @abstractmethod
    async def document(self, digest: str) -> str | None:
        """The registered document with this hex SHA-256, None if there is none."""

    @abstractmethod
    async def register(self, digest: str, document: str, actor: Actor) -> bool:
        """Register *document* (its SHA-256 checked by the caller); audited. False if it
        was registered already."""

    @abstractmethod
    async def allow_list(self) -> bool:
        """Whether the tenant runs only registered documents; True if the setting was
        changed outside the gateway (the stricter mode holds)."""

    @abstractmethod
    async def set_allow_list(self, enabled: bool, actor: Actor) -> None:
        """Turn allow-list mode on or off; audited."""
