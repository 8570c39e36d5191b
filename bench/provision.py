"""Provisioning: what creating a tenant costs, against floors measured in the same run.

Run as ``uv run python -m bench.provision [--tenants 100] [--concurrency 8] [--page]``
(``--page`` writes its section of ``docs/RELIABILITY.md``).

It starts its own FerretDB (EU, US) and Redis in a temporary folder and, in this process,
makes ``--tenants`` of each of these per region, ``--concurrency`` at a time over both
regions, in blocks of ``--block`` per region whose paths run in turn (so a change in the
machine's load or in the number of databases hits every path alike):

- ``floor: new database``: the raw driver inserts one document into a new database;
- ``floor: a tenant's indexes``: the raw driver makes a tenant database's indexes as
  provisioning does (one ``createIndexes`` per collection, the collections at once) into a
  new database, nothing else: what the server's DDL for a tenant costs;
- ``one createIndexes per index``: the same indexes one command each, one after another
  (how provisioning made them before);
- ``create_tenant``: ``Store.create_tenant`` (control record, data key, database and
  indexes, first admin through the audited write path).

Each path's cost per item is its wall time over its count (items overlap); the report gives
it as a multiple of the first floor's, and the ``create_tenant`` cost of the first and last
block (does it grow with the number of databases?). All load goes to 127.0.0.1 and is
bounded; the servers are stopped by their PIDs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from bench.support.measure import Measurement, merge, run_benchmark
from bench.support.page import machine_line, write_section
from bench.support.stack import started_stack
from gateway.services import Services
from gateway.settings import Settings
from regions.countries import RegionName
from schema.datasheets import DATASHEETS
from storage.mongo.store import MongoStore
from storage.mongo.tenant import tenant_indexes

FLOOR = "floor: new database"
PATHS = (FLOOR, "floor: a tenant's indexes", "one createIndexes per index", "create_tenant")
COUNTRY: dict[RegionName, str] = {"eu": "DE", "us": "US"}

Step = Callable[[RegionName, int], Awaitable[object]]


def _steps(services: Services) -> dict[str, Step]:
    store = MongoStore.of(services.store)
    indexes = tenant_indexes(list(DATASHEETS.values()))

    def db(region: RegionName, prefix: str, n: int) -> Any:
        return store.registry[region].plain[f"{prefix}_{n}"]

    async def new_database(region: RegionName, n: int) -> object:
        return await db(region, "floor_db", n)["doc"].insert_one({"_id": n})

    async def batched(region: RegionName, n: int) -> object:
        target = db(region, "floor_idx", n)
        return await asyncio.gather(*(target[c].create_indexes(m) for c, m in indexes.items()))

    async def one_by_one(region: RegionName, n: int) -> object:
        target = db(region, "floor_each", n)
        for collection, models in indexes.items():
            for model in models:
                await target[collection].create_indexes([model])
        return None

    async def create(region: RegionName, n: int) -> object:
        country = COUNTRY[region]
        return await store.create_tenant(f"P {n}", country, f"admin{n}@p-{region}.example")

    return dict(zip(PATHS, (new_database, batched, one_by_one, create), strict=True))


async def _block(name: str, step: Step, numbers: range, concurrency: int) -> Measurement:
    gate, latencies = asyncio.Semaphore(concurrency), []

    async def one(region: RegionName, n: int) -> None:
        async with gate:
            begun = time.perf_counter()
            await step(region, n)
            latencies.append((time.perf_counter() - begun) * 1000.0)

    started = time.perf_counter()
    await asyncio.gather(*(one(r, n) for n in numbers for r in ("eu", "us")))
    return Measurement(name, len(latencies), concurrency, time.perf_counter() - started, latencies)


async def measure(args: argparse.Namespace, settings: Settings) -> dict[str, list[Measurement]]:
    services = Services.from_settings(settings)
    blocks: dict[str, list[Measurement]] = {name: [] for name in PATHS}
    try:
        steps = _steps(services)
        await steps["create_tenant"]("eu", -1)  # region indexes, connections, first key
        starts = range(0, args.tenants, args.block)
        for index, start in enumerate(starts):
            numbers = range(start, min(start + args.block, args.tenants))
            shift = index % len(PATHS)
            for name in PATHS[shift:] + PATHS[:shift]:  # each path goes first in turn
                blocks[name].append(await _block(name, steps[name], numbers, args.concurrency))
            done = numbers.stop
            print(f"{done}/{args.tenants} per region", file=sys.stderr, flush=True)
    finally:
        await services.aclose()
    return blocks


def run(
    args: argparse.Namespace, root: Path, cleanup: contextlib.ExitStack
) -> dict[str, list[Measurement]]:
    return asyncio.run(measure(args, started_stack(root, cleanup)))


def _per_item(m: Measurement) -> float:
    return m.seconds / m.requests * 1000.0


def report(
    command: str, info: dict[str, Any], args: argparse.Namespace, blocks: dict[str, Any]
) -> dict[str, Any]:
    merged = {name: merge(name, parts) for name, parts in blocks.items()}
    floor = _per_item(merged[FLOOR])
    databases = sum(m.requests for m in merged.values())
    lines = [
        "## Provisioning: what creating a tenant costs",
        "",
        f"Command: `{command}`",
        "",
        machine_line(info),
        "",
        f"{args.tenants:,} of each per region, {args.concurrency} at a time over both regions "
        f"(about {databases:,} databases at the end); cost per item = wall time / count.",
        "",
        "| path | count | ms per item | latency p50 ms | p99 ms | per item / floor |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in merged.values():
        lines.append(
            f"| {m.name} | {m.requests} | {_per_item(m):.1f} | {m.p50:.1f} | {m.p99:.1f} "
            f"| {_per_item(m) / floor:.1f}x |"
        )
    first, last = blocks["create_tenant"][0], blocks["create_tenant"][-1]
    floors = blocks[FLOOR]
    lines += [
        "",
        f"`create_tenant` per item, first block {_per_item(first):.1f} ms "
        f"({_per_item(first) / _per_item(floors[0]):.1f}x that block's floor), last block "
        f"{_per_item(last):.1f} ms ({_per_item(last) / _per_item(floors[-1]):.1f}x).",
        "",
        "A tenant database has 14 collections with 35 indexes; provisioning makes them with "
        "one `createIndexes` per collection, the collections at once, while the data key is "
        "made (before: one command per index, one after another). FerretDB's SQLite backend "
        "takes a process-wide lock for every collection and index it creates and commits "
        "each statement on its own (create table, metadata row, `_id` index, each index, "
        "metadata update), so a region's DDL runs one statement at a time: the second row "
        "is what the server's DDL for a tenant costs, and what is left of `create_tenant` "
        "past it is the control record, the data key and the first admin through the "
        "audited write path.",
    ]
    markdown = "\n".join(lines)
    print(markdown)
    figures = {
        "command": command,
        "machine": info,
        "results": [m.as_dict() for m in merged.values()],
        "blocks": {name: [m.as_dict() for m in parts] for name, parts in blocks.items()},
        "ratios": {m.name: round(_per_item(m) / floor, 3) for m in merged.values()},
    }
    if args.page:
        print(f"wrote {write_section('provision', markdown, figures)}")
    return figures


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.provision", description=__doc__)
    parser.add_argument("--tenants", type=int, default=100, help="of each path, per region")
    parser.add_argument("--block", type=int, default=25, help="per region, per turn")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--page", action="store_true", help="write docs/RELIABILITY.md")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    if not 1 <= args.tenants <= 5_000 or not args.block >= 1 or not 1 <= args.concurrency <= 64:
        parser.error("--tenants is 1..5000, --block at least 1, --concurrency 1..64")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark("bench.provision", argv, parse_args, run, report)


if __name__ == "__main__":
    raise SystemExit(main())
