"""Client-side encryption cost, libmongocrypt on native (OpenSSL) hooks against the stock ones.

Run as ``uv run python -m bench.crypto [--calls N] [--records N] [--rounds N]``.

It starts its own FerretDB and Redis in a temporary folder, makes one data key, and builds
two sets of EU region clients in this process: one on the native hooks
(:mod:`regions.nativecrypto`, after its self-test) and one on pymongocrypt's stock Python
callbacks (hooks are chosen per ``MongoCrypt`` instance). For each, in alternating rounds, it
times in microseconds per value:

- ``encrypt det`` / ``encrypt random``: one value per call by key id as ``FieldCodec`` encrypts
  it on the write path (:func:`storage.mongo.codec.encrypt_cached` while libmongocrypt holds
  the key, else ``AsyncClientEncryption.encrypt``), AEAD_AES_256_CBC_HMAC_SHA_512
  Deterministic and Random;
- ``decrypt explicit``: ``AsyncClientEncryption.decrypt`` one value per call;
- ``decrypt reply``: a find reply of ``--records`` employees x 3 encrypted fields
  (firstName random, lastName and workEmail deterministic, as the read benchmark's page)
  decrypted in one context by the auto-decrypting client's encrypter, as the driver does it
  for every find: no server in the timing;
- ``find``: the same records read through the auto-decrypting client from FerretDB, per
  value, server and BSON included.

The figure of each row is the median of the rounds; the ratio is stock / native. The last line
is ``decrypt: X µs/value native, Y µs/value stock`` for ``decrypt reply``. All traffic goes to
127.0.0.1; the servers are stopped on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bson
from pymongo.encryption_shared import Algorithm

from bench.support.measure import run_benchmark
from bench.support.stack import started_stack
from regions import nativecrypto
from regions.clients import RegionClient
from regions.nativecrypto.hooks import stock_hooks, using
from schema.datasheets import datasheet
from storage.mongo.codec import FieldCodec, encrypt_cached

DET = Algorithm.AEAD_AES_256_CBC_HMAC_SHA_512_Deterministic
RND = Algorithm.AEAD_AES_256_CBC_HMAC_SHA_512_Random
KEY = "bench-crypto"
IMPLEMENTATIONS = ("native", "stock")
ROWS = ("encrypt det", "encrypt random", "decrypt explicit", "decrypt reply", "find")
NAMES = ["Anna Müller", "Lukas Schmidt", "Zoë Ångström", "Mateusz Kowalski", "Léa Dubois"]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=2000, help="explicit calls per round")
    parser.add_argument("--records", type=int, default=500, help="records in the reply")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    args.json = None  # the last line is the figure; no JSON file
    if not (1 <= args.calls <= 100_000 and 1 <= args.records <= 10_000 and 1 <= args.rounds <= 50):
        parser.error("--calls 1..100000, --records 1..10000, --rounds 1..50")
    return args


@dataclass
class Results:
    crypto: str
    values_per_reply: int
    #: microseconds per value, by row and implementation, one figure per round
    rounds: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def add(self, row: str, implementation: str, us: float) -> None:
        self.rounds.setdefault((row, implementation), []).append(us)

    def median(self, row: str, implementation: str) -> float:
        return statistics.median(self.rounds[(row, implementation)])


async def _per_value(
    call: Callable[[int], Awaitable[Any]], count: int, values_per_call: int = 1
) -> float:
    start = time.perf_counter()
    for i in range(count):
        await call(i)
    return (time.perf_counter() - start) / (count * values_per_call) * 1e6


async def _reply(region: RegionClient, records: int) -> bytes:
    """A find reply of *records* employees with their 3 encrypted fields, as BSON."""
    sheet = datasheet("employees")
    codec = FieldCodec(region.encryption, KEY)
    docs = []
    for i in range(records):
        name = NAMES[i % len(NAMES)]
        docs.append(
            {
                "_id": i,
                "firstName": await codec.encrypt(sheet.by_name["firstName"], name.split()[0]),
                "lastName": await codec.encrypt(
                    sheet.by_name["lastName"], f"{name.split()[1]} {i}"
                ),
                "workEmail": await codec.encrypt(sheet.by_name["workEmail"], f"p{i}@example.org"),
            }
        )
    return bson.encode({"cursor": {"firstBatch": docs, "id": 0, "ns": "b.c"}, "ok": 1})


async def _measure(args: argparse.Namespace, clients: dict[str, RegionClient]) -> Results:
    results = Results(nativecrypto.status().implementation, args.records * 3)
    native = clients["native"]
    key_id = await native.encryption.create_data_key("local", key_alt_names=[KEY])
    reply = await _reply(native, args.records)
    first = bson.decode(reply)["cursor"]["firstBatch"]
    collection = native.plain["bench_crypto"]["employees"]
    await collection.drop()
    await collection.insert_many(first)
    ciphertexts = [doc["firstName"] for doc in first]
    for region in clients.values():  # warm up: key cache, code paths
        await region.encryption.decrypt(ciphertexts[0])
        await region.data._encrypter.decrypt(reply)  # type: ignore[union-attr]

    for round_ in range(args.rounds):
        order = IMPLEMENTATIONS if round_ % 2 == 0 else IMPLEMENTATIONS[::-1]
        for implementation in order:
            region = clients[implementation]
            enc = region.encryption
            encrypter = region.data._encrypter
            assert encrypter is not None

            async def det(i: int, enc: Any = enc) -> Any:
                value = NAMES[i % 5]
                fast = encrypt_cached(enc, value, DET, key_id)
                return fast or await enc.encrypt(value, DET, key_id=key_id)

            async def rnd(i: int, enc: Any = enc) -> Any:
                value = NAMES[i % 5]
                fast = encrypt_cached(enc, value, RND, key_id)
                return fast or await enc.encrypt(value, RND, key_id=key_id)

            async def dec(i: int, enc: Any = enc) -> Any:
                return await enc.decrypt(ciphertexts[i % len(ciphertexts)])

            async def batch(_: int, encrypter: Any = encrypter) -> Any:
                return await encrypter.decrypt(reply)

            async def find(_: int, region: RegionClient = region) -> Any:
                return await region.data["bench_crypto"]["employees"].find({}).to_list()

            calls, reps = args.calls, max(1, 20_000 // results.values_per_reply)
            results.add("encrypt det", implementation, await _per_value(det, calls))
            results.add("encrypt random", implementation, await _per_value(rnd, calls))
            results.add("decrypt explicit", implementation, await _per_value(dec, calls))
            per = results.values_per_reply
            results.add("decrypt reply", implementation, await _per_value(batch, reps, per))
            results.add("find", implementation, await _per_value(find, max(1, reps // 2), per))
    await collection.drop()
    return results


def run(args: argparse.Namespace, root: Path, cleanup: contextlib.ExitStack) -> Results:
    settings = started_stack(root, cleanup)
    crypto = nativecrypto.install(settings.native_crypto)
    print(f"libmongocrypt crypto: {crypto.implementation} ({crypto.reason})", file=sys.stderr)

    async def main() -> Results:
        clients = {"native": RegionClient.from_config("eu", settings.eu)}
        with using(stock_hooks()):
            clients["stock"] = RegionClient.from_config("eu", settings.eu)
        try:
            return await _measure(args, clients)
        finally:
            for region in clients.values():
                await region.aclose()

    return asyncio.run(main())


def report(
    command: str, machine: dict[str, Any], args: argparse.Namespace, results: Results
) -> dict[str, Any]:
    print(f"\n{command}")
    load = os.getloadavg()[0]
    print(
        f"{machine.get('cpu', '')} · {os.cpu_count()} CPUs, load average {load:.1f} · "
        f"{machine.get('python', '')} · crypto: {results.crypto}"
    )
    print(
        f"{args.rounds} rounds, {args.calls} explicit calls each, a reply of {args.records} "
        f"records x 3 fields = {results.values_per_reply} values\n"
    )
    print(f"{'µs per value':<18}{'native':>10}{'stock':>10}{'stock/native':>14}")
    figures: dict[str, Any] = {"crypto": results.crypto, "us_per_value": {}}
    for row in ROWS:
        native, stock = results.median(row, "native"), results.median(row, "stock")
        print(f"{row:<18}{native:>10.2f}{stock:>10.2f}{stock / native:>13.2f}x")
        figures["us_per_value"][row] = {"native": native, "stock": stock}
    native, stock = (
        results.median("decrypt reply", "native"),
        results.median("decrypt reply", "stock"),
    )
    print(f"decrypt: {native:.2f} µs/value native, {stock:.2f} µs/value stock")
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark("bench.crypto", argv, parse_args, run, report)


if __name__ == "__main__":
    raise SystemExit(main())
