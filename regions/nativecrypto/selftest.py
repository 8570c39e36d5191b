"""Known-answer self-test of a set of crypto hooks, against ciphertexts of the stock library.

``vectors.json`` (written by ``scripts/gen_crypto_vectors.py`` with pymongocrypt's stock
Python callbacks) holds a fixed local master key, one data key wrapped under it, and values of
every BSON type the datasheets store (strings, emails, enums, dates as ISO strings, 32- and
64-bit ints, and a document as the audit log keeps), each encrypted with
AEAD_AES_256_CBC_HMAC_SHA_512 Deterministic and Random (the document only Random, as
libmongocrypt allows). With the hooks under test, :func:`run` checks that:

- the data key unwraps and every stored ciphertext decrypts to its value;
- deterministic encryption gives the stored ciphertext byte for byte;
- a fresh random ciphertext decrypts back;
- a whole reply of ciphertexts decrypts in one context (as the driver decrypts a find);
- a flipped bit (IV, ciphertext body, MAC) is refused.

Everything runs in memory (no server, no network): the key vault is a dict.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bson
from bson.binary import Binary
from pymongocrypt.errors import MongoCryptError
from pymongocrypt.options import MongoCryptOptions
from pymongocrypt.synchronous.auto_encrypter import AutoEncrypter
from pymongocrypt.synchronous.explicit_encrypter import ExplicitEncrypter
from pymongocrypt.synchronous.state_machine import MongoCryptCallback

from regions.nativecrypto.hooks import Hooks, using

__all__ = [
    "DETERMINISTIC",
    "KEY_ALT_NAME",
    "RANDOM",
    "VECTORS",
    "MemoryVault",
    "SelfTestError",
    "Vector",
    "Vectors",
    "flipped",
    "run",
]

VECTORS = Path(__file__).with_name("vectors.json")
KEY_ALT_NAME = "enclave-self-test"
DETERMINISTIC = "AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic"
RANDOM = "AEAD_AES_256_CBC_HMAC_SHA_512-Random"


class SelfTestError(Exception):
    """The hooks under test disagree with the stock library (message names the vector)."""


@dataclass(frozen=True, slots=True)
class Vector:
    name: str
    algorithm: str
    value: bytes  # BSON {"v": value}
    ciphertext: bytes  # BSON {"v": Binary(subtype 6)}


@dataclass(frozen=True, slots=True)
class Vectors:
    master_key: bytes
    key_document: bytes
    vectors: tuple[Vector, ...]

    @classmethod
    def load(cls, path: Path = VECTORS) -> Vectors:
        raw = json.loads(path.read_text())
        b64 = base64.b64decode
        return cls(
            master_key=b64(raw["master_key"]),
            key_document=b64(raw["key_document"]),
            vectors=tuple(
                Vector(v["name"], v["algorithm"], b64(v["value"]), b64(v["ciphertext"]))
                for v in raw["vectors"]
            ),
        )

    def options(self) -> MongoCryptOptions:
        return MongoCryptOptions({"local": {"key": self.master_key}}, bypass_encryption=True)


class MemoryVault(MongoCryptCallback):  # type: ignore[misc]
    """pymongocrypt's I/O callback over an in-memory key vault (local KMS only)."""

    def __init__(self, keys: list[bytes] | None = None) -> None:
        self.keys = list(keys or [])

    def kms_request(self, kms_context: Any) -> None:
        raise MongoCryptError("the self-test uses the local KMS only")

    def collection_info(self, database: str, filter: bytes) -> None:
        return None

    def mark_command(self, database: str, cmd: bytes) -> bytes:
        raise MongoCryptError("the self-test never marks commands")

    def fetch_keys(self, filter: bytes) -> Iterator[bytes]:
        yield from self.keys

    def insert_data_key(self, data_key: bytes) -> Any:
        self.keys.append(bytes(data_key))
        return bson.decode(data_key)["_id"]

    def bson_encode(self, doc: Any) -> bytes:
        return bson.encode(doc)

    def close(self) -> None:
        return None


def flipped(ciphertext: bytes, offset: int) -> bytes:
    """*ciphertext* (BSON ``{"v": Binary}``) with one bit flipped at *offset* of the payload
    (negative: from its end). The payload is algorithm byte, key id (16), IV (16), body, MAC."""
    payload = bytearray(bson.decode(ciphertext)["v"])
    payload[offset] ^= 0x01
    return bson.encode({"v": Binary(bytes(payload), 6)})


def run(hooks: Hooks, vectors: Vectors | None = None) -> None:
    """Raise :class:`SelfTestError` unless *hooks* give exactly the stock library's answers."""
    known = vectors or Vectors.load()
    vault = MemoryVault([known.key_document])
    with using(hooks):
        explicit = ExplicitEncrypter(vault, known.options())
        auto = AutoEncrypter(vault, known.options())
    try:
        _explicit(explicit, known)
        _reply(auto, known)
        _tampered(explicit, known)
    except MongoCryptError as exc:
        raise SelfTestError(f"libmongocrypt refused a known-good value: {exc}") from exc
    finally:
        explicit.close()
        auto.close()


def _explicit(explicit: ExplicitEncrypter, known: Vectors) -> None:
    for vector in known.vectors:
        if explicit.decrypt(vector.ciphertext) != vector.value:
            raise SelfTestError(f"{vector.name}: the stored ciphertext decrypts differently")
        again = bytes(explicit.encrypt(vector.value, vector.algorithm, key_alt_name=KEY_ALT_NAME))
        if vector.algorithm == DETERMINISTIC and again != vector.ciphertext:
            raise SelfTestError(f"{vector.name}: deterministic ciphertext differs")
        if vector.algorithm == RANDOM and again == vector.ciphertext:
            raise SelfTestError(f"{vector.name}: random ciphertext repeats")
        if explicit.decrypt(again) != vector.value:
            raise SelfTestError(f"{vector.name}: a fresh ciphertext does not decrypt back")


def _reply(auto: AutoEncrypter, known: Vectors) -> None:
    """All vectors as the documents of one find reply, decrypted in one context."""
    docs = [{"_id": i, "v": bson.decode(v.ciphertext)["v"]} for i, v in enumerate(known.vectors)]
    reply = bson.encode({"cursor": {"firstBatch": docs, "id": 0, "ns": "t.c"}, "ok": 1})
    batch = bson.decode(bytes(auto.decrypt(reply)))["cursor"]["firstBatch"]
    expected = [{"_id": i, **bson.decode(v.value)} for i, v in enumerate(known.vectors)]
    if batch != expected:
        raise SelfTestError("a reply decrypted in one context differs")


def _tampered(explicit: ExplicitEncrypter, known: Vectors) -> None:
    vector = known.vectors[0]
    for offset in (17, 40, -1):  # IV, body, MAC
        try:
            explicit.decrypt(flipped(vector.ciphertext, offset))
        except MongoCryptError:
            continue
        raise SelfTestError(f"{vector.name}: a ciphertext with a flipped bit was accepted")
