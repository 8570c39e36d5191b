"""Documents sealed under one tenant's data key (e.g. an idempotent mutation's answer)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from regions.clients import RegionClient
from schema.errors import DataIntegrityError
from storage.contract.documents import DocumentCipher
from storage.mongo.codec import FieldCodec
from storage.mongo.decryption import decrypt_blob, tenant_of_database, tenant_scoped
from storage.mongo.errors import MapsDriverErrors

__all__ = ["MongoDocuments"]


@tenant_scoped(tenant_of_database)
class MongoDocuments(MapsDriverErrors, DocumentCipher):
    """Explicit encryption with the tenant's data key; decryption checked like a reply, in
    the tenant's scope (a value under another key is refused)."""

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], codec: FieldCodec, region: RegionClient
    ) -> None:
        self._db = db  # names the tenant whose scope decryption runs in
        self._codec = codec
        self._client = region
        self._region = region.name

    async def encrypt(self, document: Mapping[str, Any]) -> bytes:
        return bytes(await self._codec.encrypt_blob(document))

    async def decrypt(self, ciphertext: bytes) -> dict[str, Any]:
        value = await decrypt_blob(self._client, ciphertext)
        if not isinstance(value, dict):
            raise DataIntegrityError("a stored answer is not a document")
        return value
