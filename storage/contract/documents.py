"""Documents the gateway keeps for a tenant outside the datasheets, sealed under its key."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

__all__ = ["DocumentCipher"]


class DocumentCipher(ABC):
    """Encrypts documents (e.g. an idempotent mutation's stored answer, kept in Redis) under
    the tenant's data key, so they are ciphertext wherever they are kept and are destroyed
    with the key by a purge."""

    @abstractmethod
    async def encrypt(self, document: Mapping[str, Any]) -> bytes:
        """*document* encrypted (randomized) under the tenant's data key."""

    @abstractmethod
    async def decrypt(self, ciphertext: bytes) -> dict[str, Any]:
        """The document :meth:`encrypt` encrypted. ``DataIntegrityError`` if the plaintext
        is not a document; ``EnclaveError`` if it is not this tenant's ciphertext (a value
        under another key is never decrypted for it) or the key is gone."""
