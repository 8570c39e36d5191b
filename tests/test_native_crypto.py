"""Native crypto (libmongocrypt's hooks in C) against pymongocrypt's stock Python callbacks.

The hooks are chosen per ``MongoCrypt`` when it is made, so one process holds both: region
clients made inside ``using(stock_hooks())`` run on the stock callbacks, the others on the
native hooks the session's services installed. Against the real key vault on FerretDB.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import bson
import httpx
import pymongocrypt
import pytest
from bson.binary import Binary
from bson.int64 import Int64
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from prometheus_client.parser import text_string_to_metric_families
from pymongo.encryption_shared import Algorithm
from pymongo.errors import EncryptionError
from pymongocrypt.binding import ffi, lib
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.dev.servers import PROJECT_ROOT
from gateway.services import Services
from gateway.settings import Settings
from regions import nativecrypto
from regions.clients import RegionClient
from regions.nativecrypto.hooks import current, hook_calls, native_hooks, stock_hooks, using
from regions.nativecrypto.selftest import Vectors, flipped
from schema.datasheets import DATASHEETS, Field, FieldType
from storage.mongo.codec import FieldCodec, encode
from tests.support.client import Tenant
from tests.support.gateways import gateway_env, running_gateways

DET = Algorithm.AEAD_AES_256_CBC_HMAC_SHA_512_Deterministic
RND = Algorithm.AEAD_AES_256_CBC_HMAC_SHA_512_Random
ALGORITHMS = (DET, RND)

#: One value of each stored BSON type: strings (names, emails, enums, dates as ISO strings),
#: 32- and 64-bit ints, a long text spanning many AES blocks.
VALUES: list[Any] = [
    "Zoë O'Brien-Ångström 東京",
    "",
    "ada.lovelace@example.org",
    "ON_LEAVE",
    "1990-05-17",
    52_000,
    -7,
    Int64(2**40 + 3),
    "cv " * 6000,
]
BLOB = {"firstName": "Ada", "salary": 52_000, "dateOfBirth": "1990-05-17", "tags": ["a"]}


@dataclass
class Pair:
    native: RegionClient
    stock: RegionClient


@pytest.fixture(scope="module")
async def pair(services: Services, settings: Settings) -> AsyncIterator[Pair]:
    assert nativecrypto.status().native, nativecrypto.status()
    native = RegionClient.from_config("eu", settings.eu)
    with using(stock_hooks()):
        stock = RegionClient.from_config("eu", settings.eu)
    try:
        yield Pair(native, stock)
    finally:
        await native.aclose()
        await stock.aclose()


@pytest.fixture
def restore_native() -> Iterator[None]:
    yield
    assert nativecrypto.install(True).native


def _sample(field: Field) -> str | int:
    value: Any = {
        FieldType.STRING: "Zoë O'Brien-Ångström 東京",
        FieldType.EMAIL: "zoe.obrien@example.org",
        FieldType.INT: 61_500,
        FieldType.DATE: dt.date(1990, 5, 17),
        FieldType.ENUM: "ACTIVE",
    }[field.type]
    encoded = encode(field, value)
    assert encoded is not None
    return encoded


async def test_each_implementation_reads_what_the_other_wrote(
    pair: Pair, eu_tenant: Tenant
) -> None:
    key = eu_tenant.id
    for algorithm in ALGORITHMS:
        for value in VALUES:
            by_native = await pair.native.encryption.encrypt(value, algorithm, key_alt_name=key)
            by_stock = await pair.stock.encryption.encrypt(value, algorithm, key_alt_name=key)
            assert await pair.stock.encryption.decrypt(by_native) == value
            assert await pair.native.encryption.decrypt(by_stock) == value
            if algorithm == DET:
                assert by_native == by_stock
            else:
                assert by_native != by_stock
    for source, target in ((pair.native, pair.stock), (pair.stock, pair.native)):
        blob = await FieldCodec(source.encryption, key).encrypt_blob(BLOB)
        assert await target.encryption.decrypt(blob) == BLOB


async def test_every_encrypted_datasheet_field_round_trips_across_implementations(
    pair: Pair, eu_tenant: Tenant
) -> None:
    native = FieldCodec(pair.native.encryption, eu_tenant.id)
    stock = FieldCodec(pair.stock.encryption, eu_tenant.id)
    fields = [f for sheet in DATASHEETS.values() for f in sheet.encrypted_fields]
    assert {f.type for f in fields} >= {FieldType.STRING, FieldType.EMAIL, FieldType.INT}
    for field in fields:
        plain = _sample(field)
        by_native, by_stock = await native.encrypt(field, plain), await stock.encrypt(field, plain)
        assert await pair.stock.encryption.decrypt(by_native) == plain
        assert await pair.native.encryption.decrypt(by_stock) == plain
        # Deterministic fields give the same bytes either way; random ones never repeat.
        assert (by_native == by_stock) == field.filterable, field.name


async def test_a_find_reply_is_decrypted_alike_by_both(pair: Pair, eu_tenant: Tenant) -> None:
    """The driver's automatic decryption of a whole reply, written by one, read by the other."""
    key = eu_tenant.id
    docs = []
    for i in range(40):
        writer = pair.native if i % 2 else pair.stock
        docs.append(
            {
                "_id": i,
                "lastName": await writer.encryption.encrypt(f"Name {i}", DET, key_alt_name=key),
                "salary": await writer.encryption.encrypt(50_000 + i, RND, key_alt_name=key),
                "dateOfBirth": await writer.encryption.encrypt("1990-05-17", RND, key_alt_name=key),
            }
        )
    collection = pair.native.plain["native_crypto_test"]["reply"]
    await collection.drop()
    await collection.insert_many(docs)
    try:
        expected = [
            {"_id": i, "lastName": f"Name {i}", "salary": 50_000 + i, "dateOfBirth": "1990-05-17"}
            for i in range(40)
        ]
        for reader in (pair.native, pair.stock):
            found = reader.data["native_crypto_test"]["reply"].find({}, sort=[("_id", 1)])
            assert [d async for d in found] == expected
    finally:
        await collection.drop()


async def test_a_flipped_bit_anywhere_is_refused_by_both(pair: Pair, eu_tenant: Tenant) -> None:
    for algorithm in ALGORITHMS:
        ciphertext = await pair.stock.encryption.encrypt(
            "Ada Lovelace", algorithm, key_alt_name=eu_tenant.id
        )
        original = bson.encode({"v": ciphertext})
        for offset in range(len(ciphertext)):
            tampered = bson.decode(flipped(original, offset))["v"]
            assert isinstance(tampered, Binary)
            for reader in (pair.native, pair.stock):
                with pytest.raises(EncryptionError):
                    await reader.encryption.decrypt(tampered)


async def test_native_clients_run_the_c_hooks_and_stock_ones_do_not(
    pair: Pair, eu_tenant: Tenant
) -> None:
    key = eu_tenant.id
    before = hook_calls()
    await pair.stock.encryption.decrypt(
        await pair.stock.encryption.encrypt("x", RND, key_alt_name=key)
    )
    assert hook_calls() == before
    await pair.native.encryption.decrypt(
        await pair.native.encryption.encrypt("x", RND, key_alt_name=key)
    )
    assert hook_calls() >= before + 5  # 3 to encrypt, 2 to decrypt


def test_the_stored_vectors_came_from_the_stock_library() -> None:
    known = Vectors.load()
    names = {v.name.split("/")[0] for v in known.vectors}
    assert {"string", "email", "enum", "date-as-string", "int32", "int64", "document"} <= names
    for hooks in (stock_hooks(), native_hooks()):
        nativecrypto.selftest.run(hooks, known)


def test_turned_off_it_keeps_the_stock_callbacks(restore_native: None) -> None:
    crypto = nativecrypto.install(False)
    assert crypto.implementation == "stock" and "ENCLAVE_NATIVE_CRYPTO" in crypto.reason
    assert current() == stock_hooks()


def test_a_failed_self_test_falls_back_to_stock(restore_native: None) -> None:
    known = Vectors.load()
    first = known.vectors[0]
    wrong = replace(first, value=bson.encode({"v": "not what was encrypted"}))
    crypto = nativecrypto.install(True, vectors=replace(known, vectors=(wrong, *known.vectors)))
    assert crypto.implementation == "stock"
    assert "decrypts differently" in crypto.reason
    assert current() == stock_hooks()


def test_an_untested_pymongocrypt_falls_back_to_stock(
    restore_native: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pymongocrypt, "__version__", "99.0.0")
    crypto = nativecrypto.install(True, vectors=Vectors.load())
    assert crypto.implementation == "stock" and "not a tested version" in crypto.reason
    assert current() == stock_hooks()


def test_a_missing_extension_falls_back_to_stock(
    restore_native: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "enclave_native", None)  # as if it was never installed
    crypto = nativecrypto.install(True, vectors=Vectors.load())
    assert crypto.implementation == "stock" and "extension is missing" in crypto.reason
    assert current() == stock_hooks()


def _metric(text: str, implementation: str) -> float:
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "enclave_crypto" and s.labels == {"implementation": implementation}
    )


async def test_readyz_and_metrics_say_which_crypto(http: httpx.AsyncClient) -> None:
    assert (await http.get("/readyz")).json()["crypto"] == "native"
    metrics = (await http.get("/metrics")).text
    assert _metric(metrics, "native") == 1 and _metric(metrics, "stock") == 0


async def test_a_gateway_with_native_crypto_off_says_stock(
    settings: Settings, restore_native: None
) -> None:
    app: Starlette = create_app(settings.model_copy(update={"native_crypto": False}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            assert (await http.get("/readyz")).json()["crypto"] == "stock"
            metrics = (await http.get("/metrics")).text
            assert _metric(metrics, "native") == 0 and _metric(metrics, "stock") == 1


@pytest.mark.parametrize(("setting", "expected"), [(None, "native"), ("false", "stock")])
def test_a_process_without_settings_reads_the_variable(setting: str | None, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ENCLAVE_NATIVE_CRYPTO"}
    if setting is not None:
        env["ENCLAVE_NATIVE_CRYPTO"] = setting
    code = "from regions import nativecrypto; print(nativecrypto.ensure_installed().implementation)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == expected


class _Buffers:
    """mongocrypt_binary_t views over fresh buffers, kept alive with this object."""

    def __init__(self) -> None:
        self._keep: list[Any] = []

    def __call__(self, data: bytes | int) -> Any:
        size = data if isinstance(data, int) else len(data)
        buf = ffi.new("uint8_t[]", max(size, 1))
        if isinstance(data, bytes):
            ffi.memmove(buf, data, size)
        view = ffi.new("mongocrypt_binary_t *")
        view.data, view.len = buf, size
        self._keep += [buf, view]
        return view


def _refused(call: Callable[[Any], bool]) -> str:
    status = lib.mongocrypt_status_new()
    try:
        assert call(status) is False
        return str(ffi.string(lib.mongocrypt_status_message(status, ffi.NULL)).decode())
    finally:
        lib.mongocrypt_status_destroy(status)


def test_the_c_hooks_agree_with_cryptography_and_hashlib_and_refuse_wrong_lengths() -> None:
    hooks, b = native_hooks(), _Buffers()
    key, iv, plain = bytes(range(32)), bytes(range(16)), b"sixteen byte blk" * 3
    out, written = b(48), ffi.new("uint32_t *")
    assert hooks.aes_256_cbc_encrypt(ffi.NULL, b(key), b(iv), b(plain), out, written, ffi.NULL)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    expected = encryptor.update(plain) + encryptor.finalize()
    assert written[0] == 48 and bytes(ffi.buffer(out.data, 48)) == expected
    mac = b(64)
    assert hooks.hmac_sha_512(ffi.NULL, b(key), b(plain), mac, ffi.NULL)
    assert bytes(ffi.buffer(mac.data, 64)) == hmac.new(key, plain, hashlib.sha512).digest()
    # CTR (Queryable Encryption only; pymongocrypt registers it) is a stream: any length.
    odd, ctr_out = plain[:45], b(45)
    assert hooks.aes_256_ctr_encrypt(ffi.NULL, b(key), b(iv), b(odd), ctr_out, written, ffi.NULL)
    stream = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    assert bytes(ffi.buffer(ctr_out.data, 45)) == stream.update(odd) + stream.finalize()
    mac256, digest = b(32), b(32)
    assert hooks.hmac_sha_256(ffi.NULL, b(b"k" * 7), b(plain), mac256, ffi.NULL)
    assert bytes(ffi.buffer(mac256.data, 32)) == hmac.new(b"k" * 7, plain, hashlib.sha256).digest()
    assert hooks.sha_256(ffi.NULL, b(plain), digest, ffi.NULL)
    assert bytes(ffi.buffer(digest.data, 32)) == hashlib.sha256(plain).digest()

    cbc = hooks.aes_256_cbc_decrypt
    refusals = {
        "32 bytes": lambda s: cbc(ffi.NULL, b(key[:31]), b(iv), b(plain), b(48), written, s),
        "16 bytes": lambda s: cbc(ffi.NULL, b(key), b(iv[:15]), b(plain), b(48), written, s),
        "whole number of blocks": lambda s: cbc(
            ffi.NULL, b(key), b(iv), b(plain[:47]), b(48), written, s
        ),
        "too small": lambda s: cbc(ffi.NULL, b(key), b(iv), b(plain), b(47), written, s),
        "wrong size": lambda s: hooks.hmac_sha_512(ffi.NULL, b(key), b(plain), b(32), s),
        "random output": lambda s: hooks.secure_random(ffi.NULL, b(15), 16, s),
        "HMAC key is empty": lambda s: hooks.hmac_sha_256(ffi.NULL, b(b""), b(plain), b(32), s),
    }
    for words, call in refusals.items():
        message = _refused(call)
        assert message.startswith("enclave_native:") and words in message, message


def test_an_unexpected_error_in_the_self_test_falls_back_to_stock(
    restore_native: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if pymongocrypt's synchronous encrypter had changed its signature.
    monkeypatch.setattr(nativecrypto.selftest, "ExplicitEncrypter", lambda *_: None)
    crypto = nativecrypto.install(True, vectors=Vectors.load())
    assert crypto.implementation == "stock" and "AttributeError" in crypto.reason
    assert current() == stock_hooks()


async def test_gateway_processes_say_and_log_which_crypto(
    settings: Settings, tmp_path: Path
) -> None:
    env = gateway_env(settings)
    with (
        running_gateways(["native"], env, tmp_path) as (native,),
        running_gateways(["stock"], {**env, "ENCLAVE_NATIVE_CRYPTO": "false"}, tmp_path) as (
            stock,
        ),
    ):
        for gateway, expected in ((native, "native"), (stock, "stock")):
            async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
                assert (await http.get("/readyz")).json()["crypto"] == expected
            logged = [
                json.loads(line)
                for line in gateway.log_path.read_text().splitlines()
                if '"enclave.crypto"' in line
            ]
            assert len(logged) == 1, logged  # once, however many clients were made
            assert logged[0]["message"].startswith(f"libmongocrypt crypto: {expected}")
