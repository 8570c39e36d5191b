"""Integrators' API keys of one tenant, and the format of a key's text.

A key is shown once, at creation: ``enk_<tenant id>_<key id>_<secret>``. The tenant id in
it routes the request with no lookup; only a hash of the secret is stored.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod

from storage.values import Actor, ApiKey

__all__ = ["PREFIX", "ApiKeyStore", "format_api_key", "parse_api_key"]

PREFIX = "enk_"


def format_api_key(tenant_id: str, key_id: str, secret: str) -> str:
    """The text of a key, as its holder sends it."""
    return f"{PREFIX}{tenant_id}_{key_id}_{secret}"


def parse_api_key(value: str) -> tuple[str, str, str] | None:
    """(tenant id, key id, secret) of a well-formed key, else None."""
    if not value.startswith(PREFIX):
        return None
    parts = value[len(PREFIX) :].split("_")
    if len(parts) != 4 or len(parts[2]) != 26:
        return None
    return f"{parts[0]}_{parts[1]}", parts[2], parts[3]


class ApiKeyStore(ABC):
    """Keys scoped to one role each, revocable; creation and revocation are audited. A key
    document changed outside the gateway (its MAC fails) is no key."""

    @abstractmethod
    async def create(
        self, name: str, role: str, can_export: bool, actor: Actor
    ) -> tuple[ApiKey, str]:
        """A new key for *role* and the key's text (never stored, never shown again).
        ``BadUserInputError`` (field ``role``) for an unknown role."""

    @abstractmethod
    async def all(self) -> list[ApiKey]:
        """Every key of the tenant, revoked ones included, without secrets; [] for none."""

    @abstractmethod
    async def revoke(self, key_id: str, actor: Actor) -> ApiKey:
        """Revoke a key; audited; the key as revoked. ``NotFoundError`` for no such key."""

    @abstractmethod
    async def check(self, key_id: str, secret: str) -> ApiKey | None:
        """The key if *secret* is its secret and it is not revoked, else None."""

    @abstractmethod
    async def touch(self, key_id: str, at: dt.datetime) -> None:
        """Record a key's last use (bookkeeping, not audited)."""
