"""Explicit encryption's short way (``storage.mongo.codec.encrypt_cached``) against PyMongo's.

Against the real key vault on FerretDB: the short way is taken only while libmongocrypt holds
the data key in its own cache, gives the same ciphertext as ``AsyncClientEncryption.encrypt``,
and never makes a destroyed key live longer than that cache (``key_cache_ms``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from bson.binary import Binary
from pymongo.encryption_shared import Algorithm
from pymongo.errors import EncryptionError, InvalidOperation

from gateway.services import Services
from gateway.settings import Settings
from regions.clients import KEY_VAULT_NAMESPACE, RegionClient
from regions.nativecrypto.hooks import stock_hooks, using
from schema.datasheets import DATASHEETS, FieldType
from storage.mongo.codec import FieldCodec, encrypt_cached
from storage.mongo.decryption import KeyIds

DET = Algorithm.AEAD_AES_256_CBC_HMAC_SHA_512_Deterministic
RND = Algorithm.AEAD_AES_256_CBC_HMAC_SHA_512_Random
CACHE_MS = 300


class OneKey(KeyIds):
    """The key ids of one data key made for the test (no tenant control record)."""

    def __init__(self, key_id: bytes) -> None:
        self._key_id = key_id

    async def get(self, tenant_id: str) -> bytes | None:
        return self._key_id


@pytest.fixture
async def region(services: Services, settings: Settings) -> AsyncIterator[RegionClient]:
    """A region client of its own (an empty libmongocrypt key cache) with a short key cache."""
    config = settings.eu.model_copy(update={"key_cache_ms": CACHE_MS})
    client = RegionClient.from_config("eu", config)
    try:
        yield client
    finally:
        await client.aclose()


async def _data_key(region: RegionClient) -> Binary:
    key: Binary = await region.encryption.create_data_key(
        "local", key_alt_names=[f"fast-{uuid.uuid4().hex}"]
    )
    return key


async def test_the_short_way_gives_pymongos_ciphertext_readable_by_the_stock_library(
    region: RegionClient, settings: Settings
) -> None:
    key = await _data_key(region)
    codec = FieldCodec(region.encryption, "t", OneKey(key.as_uuid().bytes))
    assert encrypt_cached(region.encryption, "x", DET, key) is None  # nothing cached yet
    await codec.encrypt(DATASHEETS["employees"].by_name["lastName"], "warm")
    with using(stock_hooks()):
        stock = RegionClient.from_config("eu", settings.eu)
    try:
        for value in ("Zoë O'Brien-Ångström 東京", "", 61_500, "cv " * 3000):
            for algorithm in (DET, RND):
                fast = encrypt_cached(region.encryption, value, algorithm, key)
                assert fast is not None and fast.subtype == 6
                assert await stock.encryption.decrypt(fast) == value
                usual = await region.encryption.encrypt(value, algorithm, key_id=key)
                assert (fast == usual) == (algorithm == DET)
        fields = [f for sheet in DATASHEETS.values() for f in sheet.encrypted_fields]
        for field in fields:
            plain: str | int = 7 if field.type is FieldType.INT else "ACTIVE"
            by_codec = await codec.encrypt(field, plain)
            assert await stock.encryption.decrypt(by_codec) == plain
        blob = await codec.encrypt_blob({"a": 1, "b": ["c"]})
        assert await stock.encryption.decrypt(blob) == {"a": 1, "b": ["c"]}
    finally:
        await stock.aclose()


async def test_an_uncached_or_expired_key_takes_pymongos_way(region: RegionClient) -> None:
    key = await _data_key(region)
    field = DATASHEETS["employees"].by_name["lastName"]
    codec = FieldCodec(region.encryption, "t", OneKey(key.as_uuid().bytes))
    first = await codec.encrypt(field, "Dubois")  # fetched: the short way could not
    assert encrypt_cached(region.encryption, "Dubois", DET, key) == first
    await asyncio.sleep(3 * CACHE_MS / 1000)
    assert encrypt_cached(region.encryption, "Dubois", DET, key) is None  # expired
    assert await codec.encrypt(field, "Dubois") == first  # fetched again
    assert encrypt_cached(region.encryption, "Dubois", DET, key) == first


async def test_a_destroyed_key_stops_working_when_libmongocrypts_cache_expires(
    region: RegionClient,
) -> None:
    key = await _data_key(region)
    field = DATASHEETS["employees"].by_name["lastName"]
    codec = FieldCodec(region.encryption, "t", OneKey(key.as_uuid().bytes))
    await codec.encrypt(field, "Dubois")
    vault_db, vault_coll = KEY_VAULT_NAMESPACE.split(".", 1)
    deleted = await region.plain[vault_db][vault_coll].delete_one({"_id": key})
    assert deleted.deleted_count == 1  # as a tenant purge destroys it
    await asyncio.sleep(3 * CACHE_MS / 1000)
    assert encrypt_cached(region.encryption, "Dubois", DET, key) is None
    with pytest.raises(EncryptionError):
        await codec.encrypt(field, "Dubois")
    with pytest.raises(EncryptionError):
        await codec.encrypt_blob({"a": 1})


async def test_a_closed_client_is_refused_as_pymongo_refuses_it(
    services: Services, settings: Settings
) -> None:
    region = RegionClient.from_config("eu", settings.eu)
    key = await _data_key(region)
    codec = FieldCodec(region.encryption, "t", OneKey(key.as_uuid().bytes))
    await codec.encrypt_blob({"a": 1})
    await region.aclose()
    assert encrypt_cached(region.encryption, "x", RND, key) is None
    with pytest.raises(InvalidOperation, match="closed"):
        await codec.encrypt_blob({"a": 1})
