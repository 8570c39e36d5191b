"""Values between Python and their stored form, encrypted where the datasheet says so.

Dates are stored as ISO strings (``YYYY-MM-DD``) so that they encrypt deterministically
and sort as text when plaintext. Sensitive values are encrypted explicitly under the
tenant's data key: by its id as checked against the tenant's control record
(``storage.mongo.decryption.KeyIds``) when given one, else by key alt name (= tenant id);
reads are decrypted by the driver.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bson.binary import Binary, UuidRepresentation
from pymongo.asynchronous.encryption import AsyncClientEncryption
from pymongo.encryption_shared import Algorithm

from schema.datasheets import Field, FieldType, Sensitivity
from schema.errors import DataIntegrityError
from storage.base import Value

if TYPE_CHECKING:
    from storage.mongo.decryption import KeyIds

__all__ = ["FieldCodec", "decode", "encode"]

_ALGORITHM = {
    Sensitivity.DETERMINISTIC: Algorithm.AEAD_AES_256_CBC_HMAC_SHA_512_Deterministic,
    Sensitivity.RANDOM: Algorithm.AEAD_AES_256_CBC_HMAC_SHA_512_Random,
}


def encode(field: Field, value: Value) -> str | int | None:
    """A Python value in its plain stored form."""
    if value is None:
        return None
    if field.type is FieldType.DATE:
        assert isinstance(value, dt.date)
        return value.isoformat()
    assert isinstance(value, str | int)
    return value


def decode(field: Field, value: Any) -> Value:
    """A decrypted stored value as Python."""
    if value is None:
        return None
    if isinstance(value, Binary):
        # Only reachable if a value could not be decrypted; never hand ciphertext out.
        raise ValueError(f"field {field.name} is still encrypted")
    if field.type is FieldType.DATE:
        return dt.date.fromisoformat(value)
    return value  # type: ignore[no-any-return]


class FieldCodec:
    """Encrypts one tenant's values under its data key."""

    def __init__(
        self,
        encryption: AsyncClientEncryption[Any],
        tenant_id: str,
        key_ids: KeyIds | None = None,
    ) -> None:
        self._encryption = encryption
        self._key = tenant_id
        self._key_ids = key_ids

    async def _under(self) -> dict[str, Any]:
        """The key to encrypt under: the checked key id if there is a check, else the alt name."""
        if self._key_ids is None:
            return {"key_alt_name": self._key}
        key_id = await self._key_ids.get(self._key)
        if key_id is None:
            raise DataIntegrityError(
                "the tenant's data key failed an integrity check; nothing was encrypted"
            )
        return {"key_id": Binary.from_uuid(uuid.UUID(bytes=key_id), UuidRepresentation.STANDARD)}

    async def encrypt(self, field: Field, plain: str | int | None) -> Any:
        """A plain stored value as the record keeps it: ciphertext if the field is sensitive."""
        if plain is None or not field.encrypted:
            return plain
        return await self._encryption.encrypt(
            plain, _ALGORITHM[field.sensitivity], **await self._under()
        )

    async def encrypt_blob(self, document: Mapping[str, Any]) -> Binary:
        """A whole document, randomized: for the values an audit entry keeps."""
        return await self._encryption.encrypt(
            dict(document), Algorithm.AEAD_AES_256_CBC_HMAC_SHA_512_Random, **await self._under()
        )
