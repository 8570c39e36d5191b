"""Writes regions/nativecrypto/vectors.json: ciphertexts made by pymongocrypt's STOCK callbacks.

    uv run python -m scripts.gen_crypto_vectors

The native hooks' start-up self-test (regions.nativecrypto.selftest) checks itself against
these. The master key and data key are fixed test material that protect nothing; the values are
made up, one of each BSON type the datasheets store. Run it again only when the set of types
changes: the stored ciphertexts must come from the stock library, never from the native hooks.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import bson
import pymongocrypt
from bson.int64 import Int64
from pymongocrypt.synchronous.explicit_encrypter import ExplicitEncrypter

from regions.nativecrypto.hooks import stock_hooks, using
from regions.nativecrypto.selftest import (
    DETERMINISTIC,
    KEY_ALT_NAME,
    RANDOM,
    VECTORS,
    MemoryVault,
)

MASTER_KEY = hashlib.shake_256(b"enclave native-crypto self-test master key").digest(96)
KEY_MATERIAL = hashlib.shake_256(b"enclave native-crypto self-test data key").digest(96)

SCALARS: list[tuple[str, Any]] = [
    ("string", "Ada Lovelace"),
    ("string-empty", ""),
    ("string-unicode", "Zoë Ångström-Øre, 東京 🚀"),
    ("string-long", "x" * 15 + "y" * 16 + "z" * 17 + " a value longer than a few blocks"),
    ("email", "ada.lovelace@example.org"),
    ("enum", "FULL_TIME"),
    ("date-as-string", "1990-05-17"),
    ("int32", 52_000),
    ("int32-negative", -7),
    ("int64", Int64(2**40 + 3)),
]
DOCUMENT = {
    "firstName": "Ada",
    "salary": 52_000,
    "birthDate": "1990-05-17",
    "tags": ["a", "b"],
    "nested": {"none": None, "flag": True},
}


def main() -> None:
    from pymongocrypt.options import MongoCryptOptions

    vault = MemoryVault()
    options = MongoCryptOptions({"local": {"key": MASTER_KEY}}, bypass_encryption=True)
    with using(stock_hooks()):
        encrypter = ExplicitEncrypter(vault, options)
    try:
        encrypter.create_data_key("local", key_alt_names=[KEY_ALT_NAME], key_material=KEY_MATERIAL)
        cases = [(n, v, a) for n, v in SCALARS for a in (DETERMINISTIC, RANDOM)]
        cases.append(("document", DOCUMENT, RANDOM))
        vectors = []
        for name, value, algorithm in cases:
            plain = bson.encode({"v": value})
            cipher = bytes(encrypter.encrypt(plain, algorithm, key_alt_name=KEY_ALT_NAME))
            vectors.append(
                {
                    "name": f"{name}/{algorithm.rsplit('-', 1)[1].lower()}",
                    "algorithm": algorithm,
                    "value": base64.b64encode(plain).decode(),
                    "ciphertext": base64.b64encode(cipher).decode(),
                }
            )
    finally:
        encrypter.close()
    document = {
        "comment": "Made by pymongocrypt's stock callbacks (scripts/gen_crypto_vectors.py); "
        "fixed test keys that protect nothing. Values and ciphertexts are base64 BSON {v: ...}.",
        "pymongocrypt": pymongocrypt.__version__,
        "libmongocrypt": pymongocrypt.libmongocrypt_version(),
        "master_key": base64.b64encode(MASTER_KEY).decode(),
        "key_document": base64.b64encode(vault.keys[0]).decode(),
        "vectors": vectors,
    }
    VECTORS.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {len(vectors)} vectors to {VECTORS}")


if __name__ == "__main__":
    main()
