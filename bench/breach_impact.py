"""How long a breach's impact takes to measure from the access log, against the raw driver.

Run as ``uv run python -m bench.breach_impact [--events 5000] [--records 2000] [--repeat 5]``.

It starts its own FerretDB (EU, US) and Redis in a temporary folder, makes one tenant and
appends, through the store, ``--events`` access events of a compromised API key (each a
page of 20 of ``--records`` record ids and three fields, spread over the last hours) and as
many of another principal (interleaved, so the key's must be found among them). Then, each
``--repeat`` times:

- **impact**: ``measure_impact`` for the key over the window (every page of the access log
  and of the audit log, through the storage contract, tallied per datasheet);
- **floor**: the raw driver reading the same access-log documents (the same filter and
  order; only their record ids; the faster of one find and pages of 500) and counting the
  distinct record ids in Python: the least any measure could do.

It prints the median of each, their ratio, and events measured per second. All connections
go to 127.0.0.1; every child process is stopped by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from bench.support.measure import run_benchmark
from bench.support.scale_records import say
from bench.support.stack import started_stack
from gateway.services import Services
from gateway.settings import Settings
from regions.routing import database_name
from resolvers.breach.impact import measure_impact
from storage.incidentvalues import Compromised
from storage.values import AccessEvent

KEY, OTHER = "bench-key", "bench-other"
FIELDS = ("lastName", "workEmail", "department")
PAGE = 20


def _events(principal: str, count: int, records: int, start: dt.datetime) -> list[AccessEvent]:
    step = dt.timedelta(hours=2) / max(count, 1)
    return [
        AccessEvent(
            at=start + i * step,
            kind="read",
            principal=principal,
            roles=("staff",),
            datasheet="employees",
            fields=FIELDS,
            records=tuple(f"rec-{(i * PAGE + j) % records:06d}" for j in range(PAGE)),
            request_id=f"req-{principal}-{i}",
        )
        for i in range(count)
    ]


async def _timed(action: Any, repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = await action()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


async def measure(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    services = Services.from_settings(settings)
    raw: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.eu.mongodb_uri.get_secret_value()
    )
    try:
        info, _ = await services.store.create_tenant("Breach bench", "DE", "a@bench.example")
        store = services.store.for_tenant(info.id)
        start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
        mine = _events(KEY, args.events, args.records, start)
        others = _events(OTHER, args.events, args.records, start)
        say(f"appending {2 * args.events:,} access events")
        for i in range(0, args.events, 500):
            await store.access_log.append(
                [
                    e
                    for pair in zip(mine[i : i + 500], others[i : i + 500], strict=True)
                    for e in pair
                ]
            )
        since, until = start, dt.datetime.now(dt.UTC)
        collection = raw[database_name(info.id)]["access_log"]

        where = {
            "$or": [{"kind": "read"}, {"kind": "export"}],
            "principal": KEY,
            "at": {"$gte": since, "$lt": until},
        }

        async def floor_one_find() -> int:
            seen: set[str] = set()
            async for doc in collection.find(where, {"records": 1}, sort=[("_id", -1)]):
                seen.update(doc["records"])
            return len(seen)

        async def floor_paged() -> int:
            seen: set[str] = set()
            after: dict[str, Any] = {}
            while True:
                found = await collection.find(
                    {**where, **after}, {"records": 1}, sort=[("_id", -1)], limit=500
                ).to_list()
                for doc in found:
                    seen.update(doc["records"])
                if len(found) < 500:
                    return len(seen)
                after = {"_id": {"$lt": found[-1]["_id"]}}

        async def impact() -> int:
            measured = await measure_impact(store, [Compromised("api_key", KEY)], since, until)
            return measured.records

        # The floor: the faster of one find and pages of 500 (as the store reads).
        floors = [await _timed(f, args.repeat) for f in (floor_one_find, floor_paged)]
        floor_s, floor_records = min(floors)
        impact_s, impact_records = await _timed(impact, args.repeat)
        if floor_records != impact_records:
            raise RuntimeError(f"impact counted {impact_records}, the floor {floor_records}")
        return {"floor_s": floor_s, "impact_s": impact_s, "records": impact_records}
    finally:
        await raw.close()
        await services.aclose()


def run(args: argparse.Namespace, root: Path, cleanup: contextlib.ExitStack) -> Any:
    return asyncio.run(measure(args, started_stack(root, cleanup)))


def report(
    command: str, info: dict[str, Any], args: argparse.Namespace, results: Any
) -> dict[str, Any]:
    floor, impact = results["floor_s"], results["impact_s"]
    print(f"\n{command}")
    print(
        f"{args.events:,} access events of the key among {2 * args.events:,}, "
        f"{results['records']:,} distinct records ({info.get('cpu', '?')})"
    )
    print(f"floor (raw driver, same documents): {floor * 1000:9.1f} ms")
    print(f"measure_impact:                     {impact * 1000:9.1f} ms  {impact / floor:.2f}x")
    print(f"events measured per second:         {args.events / impact:9,.0f}")
    return {"command": command, "machine": info, **vars(args), **results, "json": None}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.breach_impact", description=__doc__)
    parser.add_argument("--events", type=int, default=5000, help="access events of the key")
    parser.add_argument("--records", type=int, default=2000, help="distinct record ids")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each, median taken")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    if not 1 <= args.events <= 1_000_000 or args.records < 1 or not 1 <= args.repeat <= 50:
        parser.error("--events 1..1000000, --records >= 1, --repeat 1..50")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark("bench.breach_impact", argv, parse_args, run, report)


if __name__ == "__main__":
    raise SystemExit(main())
