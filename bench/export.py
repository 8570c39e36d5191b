"""Export benchmark: a 100,000-record NDJSON export through the gateway against the floor.

Run as ``uv run python -m bench.export [--records 100000]``.

It starts its own FerretDB (EU, US) and Redis in a temporary folder, creates one EU tenant
whose admin may export, and seeds employee records with every field set (9 of 13
encrypted). To keep seeding affordable, ``--distinct`` (1,000) different records are
encrypted and then inserted again under new ids up to ``--records``: every stored value is
a real ciphertext that the export must decrypt, only some of them are equal. Seeded
records bypass the audited write path (they have no audit entries); the export does not
read those.

Then, in one run:

- ``floor``: in this process, the export's own find (filter, projection of every field,
  ``_id`` order, batches of 500) through the auto-decrypting ``AsyncMongoClient``, each
  document shaped and serialised as an NDJSON line with orjson: no HTTP, no policy;
- ``gateway``: ``startExport`` then the download over HTTP from ``enclave serve`` in a child
  process (streamed by httpx, lines counted), as an integrator pulls it;
- ``floor`` again, after the gateway, so that drift in the shared machine shows.

Records per second and the ratio gateway / floor (mean of the two floor runs) are
printed. Memory: the gateway process's peak resident set size (``VmHWM``) is read after a
1,000-record warm-up export, after a 10,000-record export (the last 10,000 ids, via
``afterId``) and after the full export. If the gateway buffered, the peak would grow with
the export; streamed, it stays flat. Figures, never asserted as timings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pymongo
from ulid import ULID

from bench.support.data import bench_tenant, employee_values
from bench.support.measure import memory_kib, run_benchmark
from bench.support.stack import child_env, started_stack
from gateway.dev.servers import enclave_serve
from gateway.services import Services
from gateway.settings import Settings
from regions.clients import RegionClient
from regions.routing import database_name
from schema.datasheets import datasheet
from storage.mongo.codec import FieldCodec, decode, encode
from storage.mongo.store import MongoStore

SHEET = datasheet("employees")
META = {"_v": 1, "_archived": 1, "_created": 1, "_updated": 1, "_owner": 1}
START = """mutation($after: ID) { startExport(datasheet: "employees", format: NDJSON,
  afterId: $after) { url total } }"""


@dataclass(frozen=True)
class Seeded:
    tenant_id: str
    token: str
    ids: list[str]


async def seed(settings: Settings, records: int, distinct: int) -> Seeded:
    services = Services.from_settings(settings)
    try:
        tenant = await bench_tenant(services)
        await tenant.store.users.update(tenant.admin_id, 1, tenant.actor, can_export=True)
        region = MongoStore.of(services.store).registry["eu"]
        codec = FieldCodec(region.encryption, tenant.id)
        templates = []
        for index in range(distinct):
            values = employee_values(tenant.rng, index)
            templates.append(
                {
                    f.name: await codec.encrypt(f, encode(f, values[f.name]))
                    for f in SHEET.fields
                    if values.get(f.name) is not None
                }
            )
        collection = region.data[database_name(tenant.id)][SHEET.name]
        now = dt.datetime.now(dt.UTC)
        ids: list[str] = []
        batch: list[dict[str, Any]] = []
        for index in range(records):
            record_id = str(ULID())
            ids.append(record_id)
            batch.append(
                {
                    "_id": record_id,
                    **templates[index % distinct],
                    "_v": 1,
                    "_archived": False,
                    "_created": now,
                    "_updated": now,
                    "_owner": tenant.admin_id,
                    "_seq": 0,
                }
            )
            if len(batch) == 1000 or index == records - 1:
                await collection.insert_many(batch, ordered=False)
                batch = []
                if (index + 1) % 10_000 == 0:
                    print(f"  {index + 1} records", file=sys.stderr, flush=True)
        return Seeded(tenant.id, tenant.token, sorted(ids))
    finally:
        await services.aclose()


async def _lines(cursor: Any, fields: Sequence[str]) -> AsyncIterator[int]:
    """Each document shaped and serialised as an NDJSON line; yields the line's length."""
    async for doc in cursor:
        line = {
            "id": doc["_id"],
            **{n: decode(SHEET.by_name[n], doc.get(n)) for n in fields},
            "version": int(doc["_v"]),
            "archived": bool(doc.get("_archived")),
            "createdAt": doc["_created"],
            "updatedAt": doc["_updated"],
        }
        yield len(orjson.dumps(line)) + 1


async def floor(settings: Settings, tenant_id: str) -> tuple[int, float]:
    """The export's find, decryption and NDJSON serialisation through the raw driver."""
    region = RegionClient.from_config("eu", settings.eu)
    fields = [f.name for f in SHEET.fields]
    projection = {**META, **dict.fromkeys(fields, 1)}
    try:
        collection = region.data[database_name(tenant_id)][SHEET.name]
        started = time.perf_counter()
        cursor = collection.find(
            {"_archived": {"$ne": True}}, projection, sort=[("_id", 1)], batch_size=500
        )
        # The same deadline the gateway's export reads run under (not the socket timeout).
        with pymongo.timeout(3600):
            lines = [line async for line in _lines(cursor, fields)]
        count, size = len(lines), sum(lines)
        assert size > 0
        return count, time.perf_counter() - started
    finally:
        await region.aclose()


def gateway_export(base: str, token: str, after: str | None) -> tuple[int, float]:
    """(records, seconds of the download) of one export through the gateway."""
    with httpx.Client(base_url=base, timeout=httpx.Timeout(30.0, read=900.0)) as client:
        body = client.post(
            "/graphql",
            json={"query": START, "variables": {"after": after}},
            headers={"authorization": f"Bearer {token}"},
        ).json()
        if body.get("errors"):
            raise RuntimeError(f"startExport failed: {body['errors']}")
        job = body["data"]["startExport"]
        started = time.perf_counter()
        count = 0
        with client.stream("GET", job["url"]) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if line:
                    count += 1
        seconds = time.perf_counter() - started
    if count != job["total"]:
        raise RuntimeError(f"the export gave {count} records, expected {job['total']}")
    return count, seconds


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.export",
        description="Time an NDJSON export through the gateway against the raw-driver floor.",
    )
    parser.add_argument("--records", type=int, default=100_000, help="employees to seed")
    parser.add_argument("--distinct", type=int, default=1_000, help="distinct encrypted records")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    if not 11_000 <= args.records <= 1_000_000:
        parser.error("--records must be between 11000 and 1000000")
    if not 1 <= args.distinct <= args.records:
        parser.error("--distinct must be between 1 and --records")
    return args


def run(args: argparse.Namespace, root: Path, cleanup: contextlib.ExitStack) -> dict[str, Any]:
    settings = started_stack(root, cleanup)
    print(f"seeding {args.records} employees", file=sys.stderr, flush=True)
    seeded = asyncio.run(seed(settings, args.records, args.distinct))
    gateway = enclave_serve("gateway", root / "logs" / "gateway.log")
    cleanup.callback(gateway.stop)
    gateway.start(child_env(settings))
    assert gateway.process is not None
    pid = gateway.process.pid
    memory: dict[str, dict[str, int]] = {"start": memory_kib(pid)}
    print("floor (1)", file=sys.stderr, flush=True)
    floors = [asyncio.run(floor(settings, seeded.tenant_id))]
    gateway_export(gateway.url, seeded.token, seeded.ids[-1_001])
    memory["after 1,000-record warm-up"] = memory_kib(pid)
    gateway_export(gateway.url, seeded.token, seeded.ids[-10_001])
    memory["after 10,000-record export"] = memory_kib(pid)
    print("gateway", file=sys.stderr, flush=True)
    through = gateway_export(gateway.url, seeded.token, None)
    memory[f"after {args.records:,}-record export"] = memory_kib(pid)
    print("floor (2)", file=sys.stderr, flush=True)
    floors.append(asyncio.run(floor(settings, seeded.tenant_id)))
    return {"floors": floors, "gateway": through, "memory": memory}


def report(
    command: str, info: dict[str, Any], args: argparse.Namespace, results: dict[str, Any]
) -> dict[str, Any]:
    floor_rates = [n / s for n, s in results["floors"]]
    floor_rate = sum(floor_rates) / len(floor_rates)
    count, seconds = results["gateway"]
    rate = count / seconds
    print(f"command: {command}")
    print(f"machine: nproc={info['nproc']}  cpu={info['cpu']}  python={info['python']}")
    print(
        f"workload: NDJSON export of {args.records} employees, 13 fields (9 encrypted), "
        "client, gateway and FerretDB (sqlite) on this machine"
    )
    for index, (n, s) in enumerate(results["floors"], 1):
        print(f"floor ({index}): {n} records in {s:.2f} s = {n / s:,.0f} records/s")
    print(f"gateway:   {count} records in {seconds:.2f} s = {rate:,.0f} records/s")
    print(f"gateway / floor: {rate / floor_rate:.2f}x (floor: mean of the two runs)")
    print(f"gateway / faster floor run: {rate / max(floor_rates):.2f}x")
    print("gateway process memory (KiB):")
    for label, kib in results["memory"].items():
        print(f"  {label:<32} rss {kib['VmRSS']:>9,}  peak {kib['VmHWM']:>9,}")
    return {
        "command": command,
        "machine": info,
        "records": args.records,
        "floor_records_per_s": [round(r, 1) for r in floor_rates],
        "gateway_records_per_s": round(rate, 1),
        "ratio_gateway_vs_floor": round(rate / floor_rate, 4),
        "ratio_gateway_vs_faster_floor": round(rate / max(floor_rates), 4),
        "gateway_memory_kib": results["memory"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark("bench.export", argv, parse_args, run, report)


if __name__ == "__main__":
    raise SystemExit(main())
