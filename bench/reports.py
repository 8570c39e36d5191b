"""Reports benchmark: the gateway's ``report`` against a raw floor, at growing record counts.

Run as ``uv run python -m bench.reports [--records 10000 100000] [--repeat 3]``.

It starts its own FerretDB (EU, US) and Redis in a temporary folder, creates one EU tenant
and seeds employees straight in their stored form (bench.support.data: department, status and
job title plaintext, last name deterministic, salary randomly encrypted), then, at each
record count, times each report:

- ``gateway``: the ``report`` query over GraphQL, in process through the ASGI app (document
  authorisation, plan, storage aggregation, suppression, access log);
- ``floor``: the same records' fields fetched with one find through the auto-decrypting
  driver in the tenant's decryption scope (everything decrypted), grouped and aggregated
  in Python with a dict: what a report costs without the database's grouping.

It prints the median of ``--repeat`` runs of each, and their ratio (gateway / floor), and
the peak of Python memory (tracemalloc) during one more run of each: the gateway streams
measures in batches and keeps one accumulator per group, so its peak should not grow with
the record count; the floor's does, because it holds the decrypted values of every
record. Figures, never asserted as timings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from bench.support.data import bench_tenant, seed_records
from bench.support.measure import run_benchmark
from bench.support.stack import started_stack
from gateway.app import create_app
from gateway.services import Services
from gateway.settings import Settings
from regions.routing import database_name
from storage.mongo.decryption import tenant_scope
from storage.mongo.store import MongoStore

#: name -> (groupBy, measures): as the GraphQL query takes them.
REPORTS: dict[str, tuple[list[str], list[dict[str, str]]]] = {
    "headcount by department": (["department"], [{"op": "COUNT"}]),
    "headcount by lastName (deterministic)": (["lastName"], [{"op": "COUNT"}]),
    "salary by department (random)": (
        ["department"],
        [{"op": "SUM", "field": "salary"}, {"op": "AVG", "field": "salary"}],
    ),
    "salary by department, status": (
        ["department", "status"],
        [{"op": "MIN", "field": "salary"}, {"op": "MAX", "field": "salary"}],
    ),
}
QUERY = """query($groupBy: [String!], $measures: [ReportMeasureInput!]!) {
  report(datasheet: "employees", groupBy: $groupBy, measures: $measures) {
    total rows { keys records measures } other { groups records } } }"""


async def _floor(collection: Any, tenant_id: str, group_by: list[str], measures: Any) -> int:
    """Fetch, decrypt, group in Python; the number of records aggregated."""
    measured = [m["field"] for m in measures if m.get("field")]
    projection = {"_id": 0, **{n: 1 for n in [*group_by, *measured]}}
    groups: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
    total = 0
    with tenant_scope(tenant_id):  # decrypted as the tenant's own values, as every read is
        async for doc in collection.find({"_archived": {"$ne": True}}, projection):
            total += 1
            key = tuple(doc.get(n) for n in group_by)
            groups[key].append(tuple(doc.get(n) for n in measured))
    aggregates = []
    for values in groups.values():
        for i in range(len(measured)):
            column = [v[i] for v in values if v[i] is not None]
            if column:
                aggregates.append((sum(column), min(column), max(column)))
    return total


async def _timed(run: Callable[[], Awaitable[int]], repeat: int) -> tuple[float, int]:
    seconds = []
    total = 0
    for _ in range(repeat):
        start = time.perf_counter()
        total = await run()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), total


async def _peak(run: Callable[[], Awaitable[int]]) -> float:
    tracemalloc.start()
    try:
        await run()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


async def _measure(args: argparse.Namespace, settings: Settings) -> list[dict[str, Any]]:
    services = Services.from_settings(settings)
    try:
        tenant = await bench_tenant(services)
        seeded = 0
        app = create_app(settings, background=False)
        results = []
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://gateway", timeout=600
            ) as http,
        ):
            headers = {"authorization": f"Bearer {tenant.token}"}
            for records in sorted(args.records):
                region = MongoStore.of(services.store).registry.for_tenant(tenant.id)
                collection = region.data[database_name(tenant.id)]["employees"]
                await seed_records(region, tenant.id, tenant.admin_id, records - seeded)
                seeded = records
                for name, (group_by, measures) in REPORTS.items():

                    async def gateway(g: list[str] = group_by, m: Any = measures) -> int:
                        variables = {"groupBy": g, "measures": m}
                        response = await http.post(
                            "/graphql",
                            json={"query": QUERY, "variables": variables},
                            headers=headers,
                        )
                        body = response.json()
                        if body.get("errors"):
                            raise RuntimeError(f"report failed: {body['errors']}")
                        return int(body["data"]["report"]["total"])

                    async def floor(
                        g: list[str] = group_by, m: Any = measures, c: Any = collection
                    ) -> int:
                        return await _floor(c, tenant.id, g, m)

                    g_seconds, g_total = await _timed(gateway, args.repeat)
                    f_seconds, f_total = await _timed(floor, args.repeat)
                    if g_total != f_total:
                        raise RuntimeError(f"{name}: gateway {g_total} != floor {f_total} records")
                    results.append(
                        {
                            "records": records,
                            "report": name,
                            "gateway_s": g_seconds,
                            "floor_s": f_seconds,
                            "ratio": g_seconds / f_seconds,
                            "gateway_peak_mib": await _peak(gateway),
                            "floor_peak_mib": await _peak(floor),
                        }
                    )
                    print(_line(results[-1]), flush=True)
        return results
    finally:
        await services.aclose()


def _line(r: dict[str, Any]) -> str:
    return (
        f"{r['records']:>7,}  {r['report']:<40} gateway {r['gateway_s'] * 1000:8.0f} ms  "
        f"floor {r['floor_s'] * 1000:8.0f} ms  ratio {r['ratio']:5.2f}  "
        f"peak gateway {r['gateway_peak_mib']:6.1f} MiB  floor {r['floor_peak_mib']:6.1f} MiB"
    )


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if min(args.records) < 1 or args.repeat < 1:
        parser.error("--records and --repeat must be positive")
    return args


def _run(args: argparse.Namespace, root: Path, cleanup: contextlib.ExitStack) -> Any:
    settings = started_stack(root, cleanup)
    return asyncio.run(_measure(args, settings))


def _report(command: str, machine: dict[str, Any], args: Any, results: Any) -> dict[str, Any]:
    print(f"\n{command}")
    print(f"machine: {machine}")
    for r in results:
        print(_line(r))
    return {"command": command, "machine": machine, "results": results}


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark("bench.reports", argv, _parse, _run, _report)


if __name__ == "__main__":
    raise SystemExit(main())
