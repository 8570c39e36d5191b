"""Scale: latency with many tenants per region, and with many records in one tenant.

Run as ``uv run python -m bench.scale [--tenants 1000] [--records 100000] [--page]``.

It starts its own FerretDB (EU, US) and Redis in a temporary folder and one gateway, then:

1. **Tenants**: creates ``--tenants`` tenants in each region (control record, data key,
   database with its indexes, first admin; 8 at a time), each with
   ``--records-per-tenant`` employees through the audited write path, and times that.
   Then over HTTP, a 20-record list page:

   - ``hot`` (the floor): two tenants (one per region), warm;
   - ``first touch``: ``--touch`` other tenants once each, in random order: the first
     request of each tenant in this process (its tenant record, roles and data key are
     fetched);
   - ``spread``: random tenants of all of them.

   Floors in this process: the raw driver's ``find_one`` of a control record, and its two
   key-vault reads of a cold tenant (by key alt name; libmongocrypt's key filter by
   ``_id``). Then the gateway's RSS, and one reconciler pass and one sealer pass once
   ``--active`` tenants have written (every other tenant's marks dropped first:
   :mod:`bench.support.scale_passes`).
2. **Records** (:mod:`bench.support.scale_records`): grows one EU tenant's employees in steps
   (1,000, 10,000, 100,000, ... up to ``--records``; :mod:`bench.support.data`), and at each
   size times a get by id, an update by id, ``employees(first: 50, after: ...)`` at the first
   page and the last full page (cursors are the record id: keyset paging by ``_id``), and
   filtered first pages (a plaintext and an encrypted field, and a filter that matches nothing),
   ``--page-rounds`` rounds in alternating order, and the same first page through the raw
   driver in this process (what the database alone costs); then each as its cost relative
   to the first size.

All requests go to 127.0.0.1 and are bounded by ``--requests`` and ``--page-rounds``;
every child process is stopped by its PID. ``--page`` writes the section of
``docs/RELIABILITY.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from bench.support.cluster import make_tenants, start_cluster
from bench.support.data import employee_values
from bench.support.measure import Measurement, memory_kib, run_benchmark
from bench.support.page import machine_line, write_section
from bench.support.scale_passes import FLOOR, LIST, active_passes, control_floor, vault_floors
from bench.support.scale_records import records_part, say, timed_post
from bench.support.workload import LoadTenant
from gateway.services import Services
from gateway.settings import Settings
from schema.datasheets import datasheet
from storage.values import Actor


async def _timed(
    name: str, client: httpx.AsyncClient, calls: Sequence[tuple[str, str, dict[str, Any]]]
) -> Measurement:
    started, latencies = time.perf_counter(), []
    for token, query, variables in calls:
        latencies.append((await timed_post(client, token, query, variables))[0])
    return Measurement(name, len(calls), 1, time.perf_counter() - started, latencies)


async def tenants_part(
    args: argparse.Namespace, services: Services, client: httpx.AsyncClient, pid: int | None
) -> dict[str, Any]:
    say(f"creating {args.tenants} tenants per region")
    started = time.perf_counter()
    tenants = await make_tenants(services, args.tenants)
    created = time.perf_counter() - started
    say(f"created {len(tenants)} tenants in {created:.1f}s; adding their employees")
    await _seed_each(services, tenants, args.records_per_tenant)
    seeded = time.perf_counter() - started - created
    rng = random.Random(7)
    hot = [t for t in tenants[:2]]
    await _timed("warm-up", client, [(t.token, LIST, {}) for t in hot * 5])
    others = [t for t in tenants if t not in hot]
    touch_order = rng.sample(others, min(args.touch, len(others)))
    results = []
    for name, picked in (
        ("hot: 2 tenants", [hot[i % 2] for i in range(args.requests)]),
        ("first touch of each tenant", touch_order),
        ("spread over all tenants", [rng.choice(tenants) for _ in range(args.requests)]),
    ):
        say(f"timing {name}")
        results.append(await _timed(name, client, [(t.token, LIST, {}) for t in picked]))
    results.append(await control_floor(services, [rng.choice(tenants) for _ in range(100)]))
    results += await vault_floors(services, [rng.choice(tenants) for _ in range(50)])
    rss = memory_kib(pid) if pid is not None else {}
    say(f"background passes with {args.active} active tenants")
    passes = await active_passes(services, tenants, args.active)
    return {
        "tenants": len(tenants),
        "create_seconds": created,
        "seed_seconds": seeded,
        **passes,
        "gateway_kib": rss,
        "results": results,
    }


async def _seed_each(services: Services, tenants: list[LoadTenant], each: int) -> None:
    sheet, gate = datasheet("employees"), asyncio.Semaphore(8)
    rng = random.Random(3)

    async def one(tenant: LoadTenant) -> None:
        store = services.store.for_tenant(tenant.id)
        actor = Actor(user_id=tenant.admin, roles=("admin",))
        async with gate:
            for index in range(each):
                await store.records.create(sheet, employee_values(rng, index), actor)

    await asyncio.gather(*(one(t) for t in tenants))


#: Record counts at which the pages are timed, up to --records.
async def measure(
    args: argparse.Namespace, settings: Settings, url: str, pid: int | None = None
) -> dict[str, Any]:
    services = Services.from_settings(settings)
    try:
        async with (
            httpx.AsyncClient(base_url=url, timeout=300.0) as client,
            contextlib.AsyncExitStack() as cleanup,
        ):
            records = await records_part(args, services, client, cleanup) if args.records else None
            tenants = await tenants_part(args, services, client, pid) if args.tenants else None
        return {"tenants": tenants, "records": records}
    finally:
        await services.aclose()


def run(args: argparse.Namespace, root: Path, cleanup: contextlib.ExitStack) -> dict[str, Any]:
    settings, gateways = start_cluster(root, cleanup, 1)
    process = gateways[0].process
    pid = None if process is None else process.pid
    return asyncio.run(measure(args, settings, gateways[0].url, pid))


def _table(rows: Sequence[Measurement], floor: Measurement) -> list[str]:
    return [
        "| requests | count | p50 ms | p99 ms | p50 / floor p50 |",
        "| --- | ---: | ---: | ---: | ---: |",
        *[
            f"| {m.name} | {m.requests} | {m.p50:.1f} | {m.p99:.1f} | {m.p50 / floor.p50:.2f}x |"
            for m in rows
        ],
    ]


def _first_touch(rows: Sequence[Measurement]) -> list[str]:
    """First touch as multiples of the floor measured in the same run."""
    by_name = {m.name: m for m in rows}
    touch, floor = by_name.get("first touch of each tenant"), by_name.get(FLOOR)
    if touch is None or floor is None:
        return []
    return [
        f"First touch of a tenant (its first request in the gateway process): p50 "
        f"{touch.p50:.1f} ms, p99 {touch.p99:.1f} ms; {touch.p50 / floor.p50:.1f}x and "
        f"{touch.p99 / floor.p50:.1f}x the floor's p50 ({floor.p50:.2f} ms: the raw driver's "
        "`find_one` of a tenant's control record in the benchmark's process).",
        "",
    ]


BACKGROUND = [
    "Background work follows the writes: every write marks its tenant, in its own region's "
    "`enclave_control.pending_work`, once per 5-second slot per process, before its audit "
    "intent (a crash between them leaves a mark with nothing to do, never an unmarked "
    "intent). The reconciler and the sealer visit the marked tenants only and drop a "
    "tenant's marks once its work is done, only those of writes past their lease (so a "
    "concurrent write's mark stays); marks are only inserted and deleted, atomic on FerretDB "
    "too. Every `ENCLAVE_BACKGROUND_SWEEP_EVERY_PASSES` passes (20; and the first after "
    "start-up) both visit every tenant as well, and count a tenant found with work but no "
    "mark in `enclave_background_sweep_missed_total{loop}` (should stay 0), marking it "
    "again. The purge loop reads the terminated tenants due from an index on `purgeDueAt`. "
    "Before the marks, one reconciler pass over 2,000 tenants took 42 s.",
    "",
]


def _mib(kib: dict[str, int]) -> str:
    if not kib:
        return "not measured"
    return f"{kib['VmRSS'] / 1024:.0f} MiB (peak {kib['VmHWM'] / 1024:.0f} MiB)"


def _base_name(name: str) -> str:
    return "deep page (last full page)" if name.startswith("deep page") else name


def _growth(steps: Sequence[Any]) -> list[str]:
    """Each operation's p50 at every size as a multiple of its p50 at the first size."""
    if not steps or not steps[0].pages:
        return []
    sizes = [step.records for step in steps]
    by_step = [{_base_name(m.name): m for m in step.pages} for step in steps]
    lines = [
        f"Cost relative to {sizes[0]:,} records (p50 at each size / p50 at {sizes[0]:,}):",
        "",
        "| operation | " + " | ".join(f"{n:,}" for n in sizes) + " |",
        "| --- |" + " ---: |" * len(sizes),
    ]
    for name, first in by_step[0].items():
        cells = [f"{first.p50:.1f} ms"]
        for measured in by_step[1:]:
            m = measured.get(name)
            cells.append(f"{m.p50 / first.p50:.2f}x" if m else "failed")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def report(
    command: str, info: dict[str, Any], args: argparse.Namespace, results: dict[str, Any]
) -> dict[str, Any]:
    def head(title: str) -> list[str]:
        return [title, "", f"Command: `{command}`", "", machine_line(info), ""]

    figures: dict[str, Any] = {"command": command, "machine": info}
    sections: list[tuple[str, list[str], dict[str, Any]]] = []
    if (t := results["tenants"]) is not None:
        per = t["create_seconds"] / t["tenants"] * 1000.0
        lines = head("## Scale: many tenants")
        lines += [
            f"### {t['tenants'] // 2:,} tenants per region ({t['tenants']:,} in all)",
            "",
            f"Creating them (control record, data key, database and indexes, first admin; 8 at "
            f"a time) took {t['create_seconds']:.1f} s, {per:.0f} ms per tenant; adding "
            f"{args.records_per_tenant} employees to each through the audited write path "
            f"{t['seed_seconds']:.1f} s. With {t['marked_tenants']:.0f} tenants marked active "
            f"(one employee written to each of {args.active}), one reconciler pass took "
            f"{t['reconcile_seconds']:.2f} s and one sealer pass {t['seal_seconds']:.2f} s. "
            f"Gateway RSS after the first touches: {_mib(t['gateway_kib'])}. A 20-record "
            "list page over HTTP, one at a time (floors: the raw driver in the benchmark's "
            "process):",
            "",
            *_table(t["results"], t["results"][0]),
            "",
            *_first_touch(t["results"]),
            *BACKGROUND,
        ]
        figures["tenants"] = {
            **{k: round(v, 3) for k, v in t.items() if k.endswith("seconds")},
            "tenants": t["tenants"],
            "marked_tenants": t["marked_tenants"],
            "gateway_kib": t["gateway_kib"],
            "results": [m.as_dict() for m in t["results"]],
        }
        sections.append(("scale", lines, dict(figures)))
    if (r := results["records"]) is not None:
        lines = head("## Scale: many records in one tenant")
        lines += [
            f"### Up to {r['records']:,} records in one tenant",
            "",
            f"Seeded in their stored form ({r['seed_seconds']:.1f} s in all, see "
            "`bench/seeding.py`), in steps; at each size, over HTTP, `employee(id:)` of a "
            "random record, `updateEmployee` of a record not updated before, "
            "`employees(first: 50, after: cursor)` (5 fields, 3 encrypted) at the first and "
            "the last full page, and first pages filtered by `department` (plaintext, about 1 "
            "record in 7), by `lastName` (deterministic-encrypted, about 1 in 25) and by a "
            f"`lastName` no record has; {args.page_rounds} rounds in alternating order. Paging "
            "is keyset by `_id`: the cursor is the last record's id and the query is "
            "`_id > cursor` sorted by `_id`, no skip.",
            "",
        ]
        for step in r["steps"]:
            lines += [f"{step.records:,} records:", ""]
            if step.pages:
                lines += [*_table(step.pages, step.pages[0]), ""]
            lines += [f"- failed: {f}" for f in step.failures[:5]] + ([""] if step.failures else [])
        last = r["steps"][-1]
        gateway_first = [m for m in last.pages if m.name == "first page"]
        raw_first = last.pages[-1]
        if gateway_first:
            lines += [
                f"At {last.records:,} records the raw driver's first page costs "
                f"{raw_first.p50 / gateway_first[0].p50:.2f}x the gateway's: the time is the "
                "database's.",
                "",
            ]
        lines += [
            *_growth(r["steps"]),
            "",
            "The local server is FerretDB 1.24 on SQLite with the project's patch "
            "(`scripts/ferretdb/index-pushdown.patch`): a read, update or delete by `_id` "
            "searches the `_id` index, and a find sorted by `_id` reads an index on (`_id` "
            "type, `_id`) in order from the cursor and stops once the page is full. A page "
            "filtered by an equality on an indexed field (the gateway indexes its filterable "
            "fields) reads the matches through that index and sorts them when there are at "
            "most 1,000 (a filter that matches nothing costs one lookup); otherwise it reads "
            "records in `_id` order, SQLite checking the equality on each, until it has 51 "
            "matches: about 51 / (the share of records that match) records. A filter with no "
            "such equality that matches little reads every record after the cursor. Without "
            "the patch every page read and sorted the whole collection (about 18 s at "
            "100,000). Paging itself adds "
            "nothing with depth (keyset, no skip); on MongoDB the `_id` index serves both the "
            "range and the order (not measured here).",
            "",
        ]
        figures["records"] = {
            "records": r["records"],
            "seed_seconds": round(r["seed_seconds"], 3),
            "steps": [
                {
                    "records": step.records,
                    "pages": [m.as_dict() for m in step.pages],
                    "failures": step.failures,
                }
                for step in r["steps"]
            ],
        }
        sections.append(
            ("scale_records", lines, {"command": command, "machine": info, **figures["records"]})
        )
    for name, lines, section_figures in sections:
        markdown = "\n".join(lines)
        print(markdown)
        if args.page:
            print(f"wrote {write_section(name, markdown, section_figures)}")
    return figures


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--tenants", type=int, default=1000, help="tenants per region (0: skip)")
    parser.add_argument("--records-per-tenant", type=int, default=2)
    parser.add_argument("--records", type=int, default=100_000, help="records in one tenant")
    parser.add_argument("--requests", type=int, default=100, help="timed requests per path")
    parser.add_argument("--touch", type=int, default=300, help="cold tenants first-touched")
    parser.add_argument("--active", type=int, default=10, help="tenants written before passes")
    parser.add_argument("--page-rounds", type=int, default=3, help="rounds of page timings")
    parser.add_argument("--page", action="store_true", help="write docs/RELIABILITY.md")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    if not 0 <= args.tenants <= 5_000 or not 0 <= args.records_per_tenant <= 20:
        parser.error("--tenants must be 0..5000 and --records-per-tenant 0..20")
    if args.records and not 1_000 <= args.records <= 1_000_000:
        parser.error("--records must be 0 or 1000..1000000")
    if not 10 <= args.requests <= 2_000:
        parser.error("--requests must be 10..2000")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark("bench.scale", argv, parse_args, run, report)


if __name__ == "__main__":
    raise SystemExit(main())
