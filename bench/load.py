"""Load test: several gateway processes under a mixed read and write workload.

Run as ``uv run python -m bench.load [--seconds 20] [--gateways 3] [--workers 24]
[--tenants 4] [--page]``.

It starts its own FerretDB (EU, US) and Redis in a temporary folder and ``--gateways``
``enclave serve`` children (stateless: any of them serves any tenant), creates
``--tenants`` tenants in each region, and runs :mod:`bench.support.workload` (creates, updates,
reads by id and list pages, across all tenants, each request to the next gateway in turn):

- ``floor``: one worker, unloaded, for ``--floor-seconds``: the latency of the same
  requests with nothing else going on;
- ``load``: ``--workers`` closed-loop workers for ``--seconds``.

Afterwards it checks, and exits 1 unless: there was no 5xx and no cut connection, every
response was free of errors, every acknowledged mutation is stored and audited as
committed (:mod:`bench.support.verify`), and the gateways' ``/metrics`` counted every request.
It prints throughput and p50/p99 per kind, as ratios against the floor. ``--page`` writes
the section of ``docs/RELIABILITY.md``. All load is on 127.0.0.1, bounded in time and
requests; every child is stopped by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from bench.support.cluster import make_tenants, requests_counted, start_cluster
from bench.support.measure import Measurement, run_benchmark
from bench.support.page import machine_line, write_section
from bench.support.verify import verify_acknowledged
from bench.support.workload import LoadResult, run_workload
from gateway.services import Services
from gateway.settings import Settings

#: Requests in all, however fast the machine: the run stays bounded.
BUDGET = 200_000


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the load")
    parser.add_argument("--floor-seconds", type=float, default=4.0)
    parser.add_argument("--gateways", type=int, default=3)
    parser.add_argument("--workers", type=int, default=24, help="concurrent clients")
    parser.add_argument("--tenants", type=int, default=4, help="tenants per region")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--page", action="store_true", help="write docs/RELIABILITY.md")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 600 or not 1 <= args.floor_seconds <= 60:
        parser.error("--seconds must be 1..600 and --floor-seconds 1..60")
    if not 1 <= args.gateways <= 8 or not 1 <= args.workers <= 200:
        parser.error("--gateways must be 1..8 and --workers 1..200")
    if not 1 <= args.tenants <= 100:
        parser.error("--tenants must be 1..100")
    return args


async def measure(args: argparse.Namespace, settings: Settings, urls: list[str]) -> dict[str, Any]:
    services = Services.from_settings(settings)
    try:
        tenants = await make_tenants(services, args.tenants)
        limits = httpx.Limits(max_connections=args.workers, max_keepalive_connections=args.workers)
        async with contextlib.AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(
                    httpx.AsyncClient(base_url=url, timeout=30.0, limits=limits)
                )
                for url in urls
            ]
            print(f"floor: 1 worker for {args.floor_seconds:.0f}s", file=sys.stderr)
            floor = await run_workload(
                clients, tenants, seconds=args.floor_seconds, workers=1, seed=args.seed
            )
            print(f"load: {args.workers} workers for {args.seconds:.0f}s", file=sys.stderr)
            load = await run_workload(
                clients,
                tenants,
                seconds=args.seconds,
                workers=args.workers,
                seed=args.seed + 1,
                budget=BUDGET,
            )
        counted = await requests_counted(urls)
        print("verifying every acknowledged mutation", file=sys.stderr, flush=True)
        problems = await verify_acknowledged(services, floor.acked + load.acked)
        return {"floor": floor, "load": load, "counted": counted, "problems": problems}
    finally:
        await services.aclose()


def run(args: argparse.Namespace, root: Path, cleanup: contextlib.ExitStack) -> dict[str, Any]:
    settings, gateways = start_cluster(root, cleanup, args.gateways)
    return asyncio.run(measure(args, settings, [g.url for g in gateways]))


def _row(m: Measurement, floor: Measurement) -> str:
    return (
        f"| {m.name} | {m.requests} | {m.rps:.1f} | {m.p50:.1f} | {m.p99:.1f} | "
        f"{m.p50 / floor.p50:.2f}x | {m.p99 / floor.p50:.2f}x |"
    )


def report(
    command: str, info: dict[str, Any], args: argparse.Namespace, results: dict[str, Any]
) -> dict[str, Any]:
    floor: LoadResult = results["floor"]
    load: LoadResult = results["load"]
    problems: list[str] = results["problems"]
    sent = len(floor.outcomes) + len(load.outcomes)
    server_errors = floor.server_errors() + load.server_errors()
    errored = [o for o in floor.outcomes + load.outcomes if not o.ok]
    rows = [
        _row(load.measurement(f"load, {kind or 'all'}", kind), floor.measurement("f", kind))
        for kind in (None, "read", "write")
    ]
    floor_all = floor.measurement("floor, all")
    checks = {
        "no 5xx or cut connection": not server_errors,
        "no error in any response": not errored,
        "every acknowledged mutation stored and audited": not problems,
        "/metrics counted every request": results["counted"] == sent,
    }
    passed = all(checks.values())
    markdown = "\n".join(
        [
            "## Load: several gateways, mixed reads and writes",
            "",
            f"Command: `{command}`",
            "",
            machine_line(info),
            "",
            f"{args.gateways} gateway processes, {args.tenants} tenants per region (EU and US), "
            f"{args.workers} closed-loop workers for {load.seconds:.1f} s, each request to the "
            "next gateway in turn: 20 % creates, 25 % updates, 15 % reads by id, 40 % "
            "20-record list pages. Floor: one worker alone for "
            f"{floor.seconds:.1f} s ({floor_all.requests} requests, p50 {floor_all.p50:.1f} ms).",
            "",
            "| requests | count | per second | p50 ms | p99 ms | p50 / floor p50 | "
            "p99 / floor p50 |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            *rows,
            "",
            f"Acknowledged mutations: {len(floor.acked) + len(load.acked)}, all checked in the "
            f"databases. Requests sent: {sent}; counted by the gateways' `/metrics`: "
            f"{results['counted']}.",
            "",
            *[f"- {name}: {'yes' if ok else 'NO'}" for name, ok in checks.items()],
            "",
        ]
    )
    print(markdown)
    for problem in problems[:20]:
        print(f"problem: {problem}")
    if errored:
        print("errors: " + ", ".join(sorted({f"{o.status} {o.codes}" for o in errored})))
    figures = {
        "command": command,
        "machine": info,
        "floor": floor.measurement("floor").as_dict(),
        "load": {
            k or "all": load.measurement(k or "all", k).as_dict() for k in (None, "read", "write")
        },
        "acknowledged": len(floor.acked) + len(load.acked),
        "sent": sent,
        "counted": results["counted"],
        "checks": checks,
    }
    if args.page:
        print(f"wrote {write_section('load', markdown, figures)}")
    if not passed:
        raise SystemExit(1)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark("bench.load", argv, parse_args, run, report)


if __name__ == "__main__":
    raise SystemExit(main())
