"""libmongocrypt's key fetches go through regions.keyfetch: by ``_id`` equality finds when it
asks for keys by id only (what Enclave does), its own filter otherwise; either way the same
keys come back and decryption and encryption work."""

from __future__ import annotations

import uuid

import bson
from bson.binary import Binary

from gateway.services import Services
from gateway.settings import Settings
from regions.keyfetch import ids_asked
from schema.datasheets import DATASHEETS
from storage.mongo.decryption import KeyIds, installed
from storage.mongo.store import MongoStore
from storage.values import Actor
from tests.support.client import make_tenant

ALGORITHM = "AEAD_AES_256_CBC_HMAC_SHA_512-Random"


def _filter(ids: list[object], names: list[str]) -> bytes:
    return bson.encode({"$or": [{"_id": {"$in": ids}}, {"keyAltNames": {"$in": names}}]})


def test_only_the_by_id_shape_is_served_by_id() -> None:
    a, b = Binary(uuid.uuid4().bytes, 4), Binary(uuid.uuid4().bytes, 4)
    assert ids_asked(_filter([a, b, a], [])) == [a, b]
    assert ids_asked(_filter([a], ["tenant"])) is None  # alt names: libmongocrypt's find
    assert ids_asked(_filter([], [])) is None
    assert ids_asked(_filter(["not-binary"], [])) is None
    assert ids_asked(bson.encode({"_id": {"$in": [a]}})) is None
    extra = {"$or": [{"_id": {"$in": [a]}, "x": 1}, {"keyAltNames": {"$in": []}}]}
    assert ids_asked(bson.encode(extra)) is None


async def test_a_cold_gateway_fetches_keys_by_id_and_falls_back_on_alt_names(
    settings: Settings, services: Services
) -> None:
    tenant = await make_tenant(services, "DE", "Key Fetch Org")
    sheet = DATASHEETS["employees"]
    made = await services.store.for_tenant(tenant.id).records.create(
        sheet,
        {"firstName": "K", "lastName": "F", "workEmail": "k.f@example.com", "status": "ACTIVE"},
        Actor(user_id=tenant.admin_id),
    )
    cold = Services.from_settings(settings)  # new clients: libmongocrypt has cached no key
    try:
        region = MongoStore.of(cold.store).registry["eu"]
        data_fetch, explicit_fetch = region.key_fetches
        store = cold.store.for_tenant(tenant.id)
        # Decryption (the auto-decrypting client): the key asked for by id only.
        record = await store.records.get(sheet, made.id, ["lastName", "workEmail"])
        assert record is not None and record.values["lastName"] == "F"
        # The key check read the key document just before: libmongocrypt is handed it.
        assert data_fetch.by_id >= 1 and data_fetch.primed >= 1 and data_fetch.passed_on == 0
        # Explicit encryption (the ClientEncryption) by key id: the same.
        again = await store.records.create(
            sheet,
            {"firstName": "L", "lastName": "G", "workEmail": "l.g@example.com", "status": "ACTIVE"},
            Actor(user_id=tenant.admin_id),
        )
        assert explicit_fetch.by_id >= 1 and explicit_fetch.passed_on == 0
        got = await store.records.get(sheet, again.id, ["lastName"])
        assert got is not None and got.values["lastName"] == "G"
        # By key alt name (Enclave never does), a key not cached: libmongocrypt's own filter.
        other = await make_tenant(services, "FR", "Other Key Fetch Org")
        by_name = await region.encryption.encrypt("x", ALGORITHM, key_alt_name=other.id)
        assert explicit_fetch.passed_on == 1
        assert await region.encryption.decrypt(by_name) == "x"
        # The same key documents either way, byte for byte.
        key = await installed(region).keys.get(tenant.id)
        assert key is not None
        key_id = Binary(key, 4)
        finds = data_fetch.finds
        served = [bytes(d) async for d in data_fetch(_filter([key_id], []))]
        passed = [bytes(d) async for d in data_fetch(_filter([], [tenant.id]))]
        assert len(served) == 1 and served == passed
        assert data_fetch.finds == finds + 1  # nothing primed: one find by _id
        assert bson.decode(served[0])["keyAltNames"] == [tenant.id]
    finally:
        await cold.aclose()


async def test_the_key_id_comes_from_the_control_record_and_is_checked_in_the_vault(
    services: Services,
) -> None:
    tenant = await make_tenant(services, "NL", "Key Id Org")
    other = await make_tenant(services, "BE", "Other Key Id Org")
    region = MongoStore.of(services.store).registry["eu"]
    check = installed(region)
    control = region.plain["enclave_control"]["tenants"]
    record = await control.find_one({"_id": tenant.id})
    theirs = await control.find_one({"_id": other.id})
    assert record is not None and theirs is not None

    def fresh() -> KeyIds:
        return KeyIds(region, check.documents)  # caches nothing yet

    key = await fresh().get(tenant.id)
    assert key is not None and key == record["keyId"].bytes
    # Another tenant's key id written into the record: its MAC (keyMac) fails.
    await control.update_one({"_id": tenant.id}, {"$set": {"keyId": theirs["keyId"]}})
    assert await fresh().get(tenant.id) is None
    # A record from before it held the key id: looked up by alt name, still bound by keyMac.
    await control.update_one({"_id": tenant.id}, {"$unset": {"keyId": ""}})
    assert await fresh().get(tenant.id) == key
    await control.update_one({"_id": tenant.id}, {"$set": {"keyId": record["keyId"]}})
    assert await fresh().get(tenant.id) == key
