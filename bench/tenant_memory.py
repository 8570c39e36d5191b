"""Gateway memory as the tenants it has served grow past the bound of its per-tenant caches.

Run as ``uv run python -m bench.tenant_memory [--bound 1000] [--steps 4] [--page]``
(``--page`` writes its section of ``docs/RELIABILITY.md``).

It starts its own FerretDB (EU, US) and Redis in a temporary folder and one gateway
(``enclave serve``) with ``ENCLAVE_TENANT_CACHE_SIZE=--bound``, and creates ``--steps`` x
``--bound`` tenants (half per region, in this process: the gateway has seen none). Then:

- **floor**: two tenants served 50 times each (the gateway's memory with its caches
  nearly empty), its RSS measured;
- the tenants are served in steps of ``--bound`` (each: one ``createEmployee`` through the
  audited write path and one list page, 8 at a time: every per-tenant cache gets an entry),
  and after each step the gateway's RSS (VmRSS of its Python process) and the caches'
  sizes (``enclave_cache_entries`` in ``/metrics``).

It prints each step's RSS as a ratio of the floor, and the memory each newly served tenant
added: while the caches fill (up to the bound) and once they are full. Past the bound that
should be about 0 (the least recently used tenant is forgotten as each new one comes in).
All requests go to 127.0.0.1; every child process is stopped by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.support.cluster import make_tenants
from bench.support.measure import memory_kib, run_benchmark
from bench.support.page import machine_line, write_section
from bench.support.scale_records import say
from bench.support.stack import NO_RATE_LIMITS, child_env, started_stack
from bench.support.workload import LoadTenant
from gateway.dev.processes import ChildProcess
from gateway.dev.servers import enclave_serve
from gateway.services import Services
from gateway.settings import Settings

LIST = "{ employees(first: 20) { nodes { id lastName workEmail } } }"
CREATE = "mutation($input: EmployeeCreateInput!) { createEmployee(input: $input) { id } }"
EMPLOYEE = {
    "firstName": "Ada",
    "lastName": "Lovelace",
    "workEmail": "ada@example.com",
    "jobTitle": "Engineer",
    "department": "Engineering",
    "startDate": "2020-01-15",
    "status": "ACTIVE",
}


async def _serve(client: httpx.AsyncClient, tenant: LoadTenant, write: bool) -> None:
    headers = {"authorization": f"Bearer {tenant.token}"}
    calls = [(CREATE, {"input": EMPLOYEE})] if write else []
    for query, variables in [*calls, (LIST, {})]:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body = response.json()
        if response.status_code != 200 or "errors" in body:
            raise RuntimeError(f"request failed: {response.status_code} {body.get('errors')}")


async def _serve_all(client: httpx.AsyncClient, tenants: Sequence[LoadTenant]) -> None:
    gate = asyncio.Semaphore(8)

    async def one(tenant: LoadTenant) -> None:
        async with gate:
            await _serve(client, tenant, write=True)

    await asyncio.gather(*(one(t) for t in tenants))


async def _cache_entries(client: httpx.AsyncClient) -> dict[str, int]:
    text = (await client.get("/metrics")).text
    return {
        s.labels["cache"]: int(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "enclave_cache_entries"
    }


def _rss(gateway: ChildProcess) -> int:
    assert gateway.process is not None
    return memory_kib(gateway.process.pid)["VmRSS"]


async def measure(args: argparse.Namespace, settings: Settings, gateway: ChildProcess) -> Any:
    services = Services.from_settings(settings)
    try:
        say(f"creating {args.bound * args.steps} tenants")
        tenants = await make_tenants(services, args.bound * args.steps // 2 + 1)
    finally:
        await services.aclose()
    hot, rest = tenants[:2], tenants[2 : 2 + args.bound * args.steps]
    steps: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=gateway.url, timeout=120.0) as client:
        for round_ in range(50):
            for tenant in hot:
                await _serve(client, tenant, write=round_ == 0)
        floor = _rss(gateway)
        steps.append({"touched": 0, "rss_kib": floor, "caches": await _cache_entries(client)})
        say(f"floor: {floor / 1024:.1f} MiB")
        for step in range(args.steps):
            await _serve_all(client, rest[step * args.bound : (step + 1) * args.bound])
            touched = (step + 1) * args.bound
            rss, caches = _rss(gateway), await _cache_entries(client)
            steps.append({"touched": touched, "rss_kib": rss, "caches": caches})
            say(f"{touched} tenants served: {rss / 1024:.1f} MiB")
    return {"floor_kib": floor, "steps": steps}


def run(args: argparse.Namespace, root: Path, cleanup: contextlib.ExitStack) -> Any:
    settings = started_stack(root, cleanup)
    env = child_env(settings, **NO_RATE_LIMITS, ENCLAVE_TENANT_CACHE_SIZE=str(args.bound))
    gateway = enclave_serve("gateway", root / "logs" / "gateway.log")
    cleanup.callback(gateway.stop)
    gateway.start(env)
    return asyncio.run(measure(args, settings, gateway))


def report(
    command: str, info: dict[str, Any], args: argparse.Namespace, results: Any
) -> dict[str, Any]:
    floor, steps = results["floor_kib"], results["steps"]
    lines = [
        "## Memory: many tenants served",
        "",
        f"Command: `{command}`",
        "",
        machine_line(info),
        "",
        f"Gateway RSS as tenants are served, per-tenant caches bounded at {args.bound:,}",
        f"(floor: two tenants served, {floor / 1024:.1f} MiB):",
        "",
        "| tenants served | RSS MiB | RSS / floor | KiB per tenant since the last step | "
        "tenants cached |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for before, step in zip([None, *steps], steps, strict=False):
        per = "" if before is None else (step["rss_kib"] - before["rss_kib"]) / args.bound
        lines.append(
            f"| {step['touched']:,} | {step['rss_kib'] / 1024:.1f} | "
            f"{step['rss_kib'] / floor:.2f}x | {per if per == '' else f'{per:.1f}'} | "
            f"{step['caches'].get('tenants', 0):,} |"
        )
    filling = (steps[1]["rss_kib"] - steps[0]["rss_kib"]) / args.bound
    past = (steps[-1]["rss_kib"] - steps[1]["rss_kib"]) / (steps[-1]["touched"] - args.bound)
    lines += [
        "",
        f"Per tenant served: {filling:.1f} KiB while the caches fill, {past:.1f} KiB past "
        f"the bound ({past / filling if filling else 0.0:.2f}x).",
    ]
    figures = {"command": command, "machine": info, "bound": args.bound, **results}
    markdown = "\n".join(lines)
    print(markdown)
    if args.page:
        print(f"wrote {write_section('tenant_memory', markdown, figures)}")
    return figures


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.tenant_memory", description=__doc__)
    parser.add_argument("--bound", type=int, default=1000, help="ENCLAVE_TENANT_CACHE_SIZE")
    parser.add_argument("--steps", type=int, default=4, help="tenants served: steps x bound")
    parser.add_argument("--page", action="store_true", help="write docs/RELIABILITY.md")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    if not 10 <= args.bound <= 10_000 or not 2 <= args.steps <= 10:
        parser.error("--bound must be 10..10000 and --steps 2..10")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark("bench.tenant_memory", argv, parse_args, run, report)


if __name__ == "__main__":
    raise SystemExit(main())
