"""First touch: what a cold tenant's first request is made of, round trip by round trip.

Run as ``uv run python -m bench.first_touch [--tenants 50 500] [--sample 30] [--page]``.

It starts its own FerretDB (EU, US) and Redis in a temporary folder and, in this process,
creates tenants until each region has each ``--tenants`` count; at each count it builds a
gateway app in this process (``httpx.ASGITransport``: no socket, and PyMongo's command
events are seen) that has served two warm tenants and no other, and sends a 20-record list
page as the first request of ``--sample`` other tenants, then once more (hot). Each
request's database commands are recorded with their start (from the request's start) and
duration; the report gives the median of each command of the cold path, the request's
median, and floors measured right after in the same process: the raw driver's ``find_one``
of a control record, its key-vault read by key alt name, libmongocrypt's key filter by
``_id`` (what a cold tenant's decryption asks the key vault) and the read by ``_id``
equality the gateway sends instead (``regions.keyfetch``). All load goes to 127.0.0.1;
the servers are stopped by their PIDs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from pymongo import monitoring

from bench.support.cluster import make_tenants
from bench.support.measure import Measurement, run_benchmark
from bench.support.page import machine_line, write_section
from bench.support.scale_passes import LIST, control_floor, vault_floors
from bench.support.scale_records import say
from bench.support.stack import started_stack
from bench.support.workload import LoadTenant
from gateway.app import create_app
from gateway.services import Services
from gateway.settings import Settings

KEY_FILTER = "raw: libmongocrypt's key filter"
BY_NAME = "raw: key vault by alt name"
BY_ID = "raw: key vault by _id"
#: The same command before the key id came from the control record (issue 20), and before the
#: local server's patch looked binary `_id`s up in its index.
BEFORE = (
    "Before (the key id looked up by alt name beside the control record, libmongocrypt's "
    "filter sent as is: two scans of the vault, decryption waiting for the second), the same "
    "command on this machine gave 15.7 -> 44.3 ms (load 2.5, 2.5, 3.9 as it ended; 2026-12-06); "
    "with the key read by `_id` but the patch looking only string and ObjectId `_id`s up in "
    "the index (each key read going over every key of the region), by `_id` 1.9 -> 9.2 ms, "
    "the vault's command in the cold path 2.7 -> 12.6 ms and the first touch 9.3 -> 20.7 ms "
    "(load 2.6, 3.0, 4.3)."
)
Command = tuple[str, str, float, float]  # name and namespace, start and duration (ms)


class Recorder(monitoring.CommandListener):
    """The commands of the request being recorded (one at a time)."""

    def __init__(self) -> None:
        self.begun: float | None = None
        self.commands: list[Command] = []
        self._open: dict[int, tuple[str, str, float]] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.begun is not None:
            target = str(next(iter(event.command.values()), ""))
            database = event.database_name.split("_", 1)[0]  # tenant_... as "tenant"
            at = time.perf_counter()
            self._open[event.request_id] = (event.command_name, f"{database}.{target}", at)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._close(event.request_id, event.duration_micros)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._close(event.request_id, event.duration_micros)

    def _close(self, request_id: int, micros: int) -> None:
        found = self._open.pop(request_id, None)
        if found is not None and self.begun is not None:
            name, target, at = found
            self.commands.append((name, target, (at - self.begun) * 1000.0, micros / 1000.0))


async def _request(
    client: httpx.AsyncClient, recorder: Recorder, tenant: LoadTenant
) -> tuple[float, list[Command]]:
    recorder.commands, recorder.begun = [], time.perf_counter()
    response = await client.post(
        "/graphql", json={"query": LIST}, headers={"authorization": f"Bearer {tenant.token}"}
    )
    ms = (time.perf_counter() - recorder.begun) * 1000.0
    recorder.begun = None
    if response.status_code != 200 or response.json().get("errors"):
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
    return ms, sorted(recorder.commands, key=lambda c: c[2])


def _measurement(name: str, latencies: list[float]) -> Measurement:
    """Requests sent one at a time: their time is the sum of their latencies."""
    return Measurement(name, len(latencies), 1, sum(latencies) / 1000.0, latencies)


async def _profile(
    settings: Settings, recorder: Recorder, tenants: list[LoadTenant], sample: int
) -> dict[str, Any]:
    app = create_app(settings, background=False)
    services: Services = app.state.services
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            for tenant in tenants[:2] * 3:
                await _request(client, recorder, tenant)
            picked = random.Random(len(tenants)).sample(tenants[2:], sample)
            cold, hot = [], []
            for tenant in picked:
                cold.append(await _request(client, recorder, tenant))
                hot.append(await _request(client, recorder, tenant))
        floors = [await control_floor(services, picked)]
        floors += await vault_floors(services, picked)
    finally:
        await services.aclose()
    steps: dict[tuple[int, str, str], list[tuple[float, float]]] = {}
    for _, commands in cold:
        for index, (name, target, at, ms) in enumerate(commands):
            steps.setdefault((index, name, target), []).append((at, ms))
    return {
        "tenants": len(tenants),
        "cold": _measurement("first touch", [ms for ms, _ in cold]),
        "hot": _measurement("same tenant again", [ms for ms, _ in hot]),
        "commands": statistics.median(len(c) for _, c in cold),
        "steps": [
            (name, target, statistics.median(a for a, _ in v), statistics.median(m for _, m in v))
            for (_, name, target), v in sorted(steps.items())
            if len(v) * 2 >= len(cold)
        ],
        "floors": floors,
        # other work shares the machine: the 1-min load average as this profile ends
        "load": os.getloadavg()[0],
    }


async def measure(args: argparse.Namespace, settings: Settings) -> list[dict[str, Any]]:
    recorder = Recorder()
    monitoring.register(recorder)  # before any client is made: every client reports to it
    creator = Services.from_settings(settings)
    tenants: list[LoadTenant] = []
    profiles = []
    try:
        for count in sorted(args.tenants):
            say(f"creating tenants up to {count} per region")
            tenants += await make_tenants(creator, count - len(tenants) // 2)
            say(f"profiling {args.sample} first touches at {count} per region")
            profiles.append(await _profile(settings, recorder, tenants, args.sample))
    finally:
        await creator.aclose()
    return profiles


def run(
    args: argparse.Namespace, root: Path, cleanup: contextlib.ExitStack
) -> list[dict[str, Any]]:
    settings = started_stack(root, cleanup)
    unlimited = {"rate_limit_per_principal": 0, "rate_limit_per_tenant": 0}
    return asyncio.run(measure(args, settings.model_copy(update=unlimited)))


def report(
    command: str, info: dict[str, Any], args: argparse.Namespace, profiles: list[dict[str, Any]]
) -> dict[str, Any]:
    lines = ["## First touch of a cold tenant", "", f"Command: `{command}`", ""]
    lines += [machine_line(info), ""]
    for p in profiles:
        cold, hot, floors = p["cold"], p["hot"], p["floors"]
        lines += [
            f"### {p['tenants'] // 2:,} tenants per region",
            "",
            f"A 20-record list page as a tenant's first request in the process: p50 "
            f"{cold.p50:.1f} ms, p99 {cold.p99:.1f} ms ({p['commands']:.0f} database "
            f"commands); the same tenant's next request: p50 {hot.p50:.1f} ms. The cold "
            "path's commands (median start from the request's start, median duration):",
            "",
            "| command | namespace | starts at ms | takes ms |",
            "| --- | --- | ---: | ---: |",
            *[f"| {n} | {t} | {at:.1f} | {ms:.1f} |" for n, t, at, ms in p["steps"]],
            "",
            "Floors, raw driver, same tenants, right after: "
            + "; ".join(f"{m.name} p50 {m.p50:.1f} ms (p99 {m.p99:.1f})" for m in floors)
            + f". First touch p50 / control-record floor p50: {cold.p50 / floors[0].p50:.1f}x."
            + f" Load average (1 min) as this profile ended: {p['load']:.1f}.",
            "",
        ]
    figures = {
        "command": command,
        "machine": info,
        "profiles": [
            {
                "tenants": p["tenants"],
                "cold": p["cold"].as_dict(),
                "hot": p["hot"].as_dict(),
                "steps": p["steps"],
                "floors": [m.as_dict() for m in p["floors"]],
                "load": p["load"],
            }
            for p in profiles
        ],
    }
    markdown = "\n".join(lines + remains(figures))
    print(markdown)
    if args.page:
        print(f"wrote {write_section('first_touch', markdown, figures)}")
    return figures


def _floor(profile: dict[str, Any], name: str) -> float:
    return float(next(f["p50_ms"] for f in profile["floors"] if f["name"] == name))


def remains(figures: dict[str, Any]) -> list[str]:
    """What a first touch is left with, from the figures of a run (its JSON)."""
    profiles = figures["profiles"]
    low, high = profiles[0], profiles[-1]
    counts = f"{low['tenants'] // 2:,} to {high['tenants'] // 2:,} tenants per region"
    return [
        "What remains, and why. One of a cold tenant's commands reads the key vault: the "
        "gateway's check of the key its control record names (`keyId`, bound by `keyMac`; "
        "the vault's document of that id must still name the tenant among its key alt "
        "names), by `_id` once the control record is in, beside the policy reads. "
        "libmongocrypt then asks for that key, and decryption waits: it asks for `{$or: "
        "[{_id: {$in: [...]}}, {keyAltNames: {$in: []}}]}`, and `regions.keyfetch` hands it "
        "the document the check has just read (2 s at most), otherwise one find by `_id` "
        "equality per key. Key ids are UUIDs (binary subtype 4): the project's FerretDB "
        "patch looks a string, ObjectId or binary `_id` up in the `_id` index, so a key read "
        "by `_id` no longer grows with the keys of the region (one per tenant); reads by alt "
        "name and libmongocrypt's filter as is still go over every key. Raw, "
        f"from {counts}, by alt name {_floor(low, BY_NAME):.1f} -> "
        f"{_floor(high, BY_NAME):.1f} ms, libmongocrypt's filter "
        f"{_floor(low, KEY_FILTER):.1f} -> {_floor(high, KEY_FILTER):.1f} ms, by `_id` "
        f"{_floor(low, BY_ID):.1f} -> {_floor(high, BY_ID):.1f} ms (p50), and the first "
        f"touch {low['cold']['p50_ms']:.1f} -> {high['cold']['p50_ms']:.1f} ms (1-min load "
        f"{low['load']:.1f} -> {high['load']:.1f}). {BEFORE} "
        "libmongocrypt keeps a key `key_cache_ms` (5 s), so a tenant idle for longer, whose "
        "key id the gateway still holds, pays a read by `_id` again (`spread` in the "
        "many-tenants section). On MongoDB every key read is an index lookup. Besides it "
        "the cold path is round trips one after another (the tenant record, settings, the "
        "policy version, a users read and the blocks at once; the key check, the role "
        "definitions and the blocks; the caller's user record, its e-mail decrypted; the "
        "page), each a few ms here. Left: fetch the user with the tenant record (one round "
        "trip less).",
        "",
    ]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.first_touch", description=__doc__)
    parser.add_argument("--tenants", type=int, nargs="+", default=[50, 500], help="per region")
    parser.add_argument("--sample", type=int, default=30, help="cold tenants per count")
    parser.add_argument("--page", action="store_true", help="write docs/RELIABILITY.md")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    if not all(3 <= n <= 5_000 for n in args.tenants) or not 1 <= args.sample < min(args.tenants):
        parser.error("--tenants are 3..5000, --sample 1..(fewest tenants - 1)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark("bench.first_touch", argv, parse_args, run, report)


if __name__ == "__main__":
    raise SystemExit(main())
