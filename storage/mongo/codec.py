"""Values between Python and their stored form, encrypted where the datasheet says so.

Dates are stored as ISO strings (``YYYY-MM-DD``) so that they encrypt deterministically
and sort as text when plaintext. Sensitive values are encrypted explicitly under the
tenant's data key: by its id as checked against the tenant's control record
(``storage.mongo.decryption.KeyIds``) when given one, else by key alt name (= tenant id);
reads are decrypted by the driver.

Explicit encryption takes a short way when libmongocrypt needs nothing from outside:
:func:`encrypt_cached` makes the same libmongocrypt context PyMongo's
``AsyncClientEncryption.encrypt`` makes (same ``MongoCrypt`` handle, same options, so the
same ciphertext) and finalizes it at once if the data key is in libmongocrypt's own key
cache; otherwise (the key not fetched yet, or expired from that cache after
``key_cache_ms``) it gives up that context and the caller takes PyMongo's path, which
fetches the key without blocking the event loop. It keeps no key of its own, so a
destroyed key works no longer than libmongocrypt's cache holds it. Private API:
``AsyncClientEncryption._encryption.mongocrypt`` and pymongocrypt's
``ExplicitEncryptOpts``; if they are missing every call takes PyMongo's path.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import bson
from bson.binary import Binary, UuidRepresentation
from pymongo.asynchronous.encryption import AsyncClientEncryption
from pymongo.encryption_shared import Algorithm
from pymongocrypt.binding import lib
from pymongocrypt.errors import MongoCryptError
from pymongocrypt.options import ExplicitEncryptOpts

from schema.datasheets import Field, FieldType, Sensitivity
from schema.errors import DataIntegrityError
from storage.values import Value

if TYPE_CHECKING:
    from storage.mongo.decryption import KeyIds

__all__ = ["FieldCodec", "decode", "encode", "encrypt_cached"]

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


def encrypt_cached(
    encryption: AsyncClientEncryption[Any], value: Any, algorithm: str, key_id: Binary
) -> Binary | None:
    """*value* encrypted under *key_id* without I/O, or None if libmongocrypt needs any
    (key not in its cache) or says anything but ready; the caller then encrypts the usual
    way, which fetches the key or raises the proper error."""
    explicit = getattr(encryption, "_encryption", None)
    mongocrypt = getattr(explicit, "mongocrypt", None)
    if mongocrypt is None:  # closed (PyMongo's path raises), or pymongocrypt changed
        return None
    document = bson.encode({"v": value}, codec_options=encryption._codec_options)
    try:
        with mongocrypt.explicit_encryption_context(
            document, ExplicitEncryptOpts(algorithm, key_id)
        ) as ctx:
            if ctx.state != lib.MONGOCRYPT_CTX_READY:
                return None
            encrypted: Binary = bson.decode(ctx.finish())["v"]
    except MongoCryptError:
        return None  # PyMongo's path raises it again, as its EncryptionError
    return encrypted


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
        self._key_id: tuple[bytes, Binary] | None = None  # the last id, as bytes and Binary

    async def _under(self) -> dict[str, Any]:
        """The key to encrypt under: the checked key id if there is a check, else the alt name."""
        if self._key_ids is None:
            return {"key_alt_name": self._key}
        key_id = await self._key_ids.get(self._key)
        if key_id is None:
            raise DataIntegrityError(
                "the tenant's data key failed an integrity check; nothing was encrypted"
            )
        if self._key_id is None or self._key_id[0] != key_id:
            binary = Binary.from_uuid(uuid.UUID(bytes=key_id), UuidRepresentation.STANDARD)
            self._key_id = (key_id, binary)
        return {"key_id": self._key_id[1]}

    async def _encrypt(self, value: Any, algorithm: str) -> Binary:
        under = await self._under()
        key_id = under.get("key_id")
        if key_id is not None:
            fast = encrypt_cached(self._encryption, value, algorithm, key_id)
            if fast is not None:
                return fast
        return await self._encryption.encrypt(value, algorithm, **under)

    async def encrypt(self, field: Field, plain: str | int | None) -> Any:
        """A plain stored value as the record keeps it: ciphertext if the field is sensitive."""
        if plain is None or not field.encrypted:
            return plain
        return await self._encrypt(plain, _ALGORITHM[field.sensitivity])

    async def encrypt_blob(self, document: Mapping[str, Any]) -> Binary:
        """A whole document, randomized: for the values an audit entry keeps."""
        return await self._encrypt(dict(document), Algorithm.AEAD_AES_256_CBC_HMAC_SHA_512_Random)
