"""Read-path benchmark: the gateway over HTTP, compiled and standard, against the raw-driver
floor.

Run as ``uv run python -m bench.read_path [--pages 50 500] [--requests N] [--concurrency C]``.

It starts its own FerretDB (EU, US) and Redis in a temporary folder, creates one EU tenant
with an admin token, seeds employee records (500 by default), and starts ``enclave serve``
in child processes. It then times, for each page size (``--pages``, default 50 and 500),
the same list query (10 fields, 3 of them encrypted) along:

- ``compiled``: POST /graphql over HTTP (httpx, 127.0.0.1), through authentication, the
  compiled read path (resolvers.compiled, the default) and the store, as a client sees it,
  with the access log on (the default);
- ``standard``: a second gateway child, the same but with ``ENCLAVE_COMPILED_READS=false``:
  every field resolved by Strawberry;
- ``access log off`` (with ``--access-log-compare``): a third, compiled, with
  ``ENCLAVE_ACCESS_LOG=false``, for the issue that bounds the access log's cost at 10 %.
  The gateways are timed in alternating rounds (``--rounds``: A B C, C B A, ...) so that
  drift in the machine affects all alike;
- ``http-floor`` (unless ``--no-http-floor``): the same find and JSON behind a bare
  Starlette route on uvicorn, no authentication, no GraphQL;
- ``floor``: in this process, the same find (filter, projection, sort, limit) through the
  auto-decrypting ``AsyncMongoClient`` and the same JSON built with orjson: no HTTP.

Every path gets the same warm-up, number of requests and concurrency (a closed loop of C
workers), and every answer is checked to be the same nodes as the floor's. Each gateway's
requests carry their own ``x-purpose`` header; after the run the tenant's ``access_log``
collection is counted by purpose (decrypted: the purpose a caller declares is stored
encrypted) to check that the gateways with the access log on wrote one read event per list
request, compiled and standard alike, and the "off" one none (the exit status is 1 if
not). ``--profile`` adds, in this process, each path timed one request at a time and a
cProfile of both, their time split into driver, decryption, waiting for FerretDB,
projection, GraphQL, HTTP and the rest (bench.support.read_profile). All load goes to
127.0.0.1 and is bounded; every child process is stopped by its PID at the end, on error
and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.support.data import bench_tenant, employee_values
from bench.support.floor import FIELDS, PLAIN_FIELDS, Collection, floor_body, list_query
from bench.support.measure import Measurement, merge, run_benchmark, run_load
from bench.support.stack import child_env, started_stack
from gateway.dev.processes import ChildProcess, free_port
from gateway.dev.servers import PROJECT_ROOT, enclave_serve
from gateway.services import Services
from gateway.settings import Settings
from regions.clients import RegionClient
from regions.routing import database_name
from schema.datasheets import datasheet
from storage.mongo.access_log import ACCESS

ENCRYPTED = ("firstName", "lastName", "workEmail")
COMPILED = "compiled"
STANDARD = "standard"
OFF = "access log off"
#: The issue's bound: a read costs at most 10 % more with the access log on.
ACCESS_LOG_BOUND = 1.10


# -- set-up -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fixture:
    tenant_id: str
    admin_id: str
    token: str


async def prepare(settings: Settings, records: int) -> Fixture:
    """One EU tenant, its admin token, and *records* employees."""
    services = Services.from_settings(settings)
    try:
        tenant = await bench_tenant(services)
        sheet = datasheet("employees")
        for index in range(records):
            values = employee_values(tenant.rng, index)
            await tenant.store.records.create(sheet, values, tenant.actor)
        return Fixture(tenant.id, tenant.admin_id, tenant.token)
    finally:
        await services.aclose()


# -- measuring --------------------------------------------------------------------------------


def check_body(
    body: dict[str, Any], expected: int, path: str, fields: Sequence[str] = FIELDS
) -> list[dict[str, Any]]:
    if body.get("errors"):
        raise RuntimeError(f"{path}: errors in the response: {body['errors']}")
    nodes: list[dict[str, Any]] = body["data"]["employees"]["nodes"]
    if len(nodes) != expected:
        raise RuntimeError(f"{path}: {len(nodes)} nodes, expected {expected}")
    first = nodes[0]
    if sorted(first) != sorted(["id", *fields, "version", "archived"]):
        raise RuntimeError(f"{path}: unexpected fields {sorted(first)}")
    for name in set(ENCRYPTED) & set(fields):
        if not isinstance(first[name], str) or not first[name]:
            raise RuntimeError(f"{path}: {name} was not decrypted: {first[name]!r}")
    return nodes


@dataclass(frozen=True)
class Target:
    """One server to time over HTTP, and the ``x-purpose`` its requests carry."""

    name: str
    url: str
    purpose: str
    #: Whether this server should record the reads in the access log (None: not a gateway).
    access_log: bool | None = None


@dataclass(frozen=True)
class AccessCount:
    """Read events one gateway wrote to the access log, against the list requests it got."""

    name: str
    purpose: str
    enabled: bool
    sent: int
    written: int

    @property
    def ok(self) -> bool:
        return self.written == (self.sent if self.enabled else 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "purpose": self.purpose,
            "access_log": self.enabled,
            "requests_sent": self.sent,
            "read_events_written": self.written,
            "ok": self.ok,
        }


@dataclass
class Measured:
    results: list[Measurement]
    access: list[AccessCount] = field(default_factory=list)
    profile: dict[str, Any] | None = None


@dataclass(frozen=True)
class Workload:
    """A list query: its page size, and whether it selects only plaintext fields."""

    page: int
    plain: bool = False

    @property
    def fields(self) -> Sequence[str]:
        return PLAIN_FIELDS if self.plain else FIELDS

    @property
    def tag(self) -> str:
        return f"[{self.page}{', plain' if self.plain else ''}]"


def label(name: str, workload: Workload) -> str:
    return f"{name} {workload.tag}"


def workloads(args: argparse.Namespace) -> list[Workload]:
    plain = [Workload(page, True) for page in args.pages] if args.plaintext else []
    return [*(Workload(page) for page in args.pages), *plain]


async def over_http(
    targets: Sequence[Target], token: str, args: argparse.Namespace, work: Workload, expected: int
) -> list[tuple[Measurement, list[dict[str, Any]]]]:
    """Time *targets* with the same query, requests and concurrency. With more than one,
    in ``args.rounds`` alternating rounds (A B, B A, A B, ...), after all have warmed up."""
    content = orjson.dumps({"query": list_query(work.page, work.fields)})
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    onces: dict[str, Callable[[], Awaitable[None]]] = {}
    nodes: dict[str, list[dict[str, Any]]] = {}
    # The gateway ignores the query string; the HTTP floor reads it.
    path = f"/graphql?page={work.page}{'&fields=plain' if work.plain else ''}"
    async with contextlib.AsyncExitStack() as clients:
        for target in targets:
            client = await clients.enter_async_context(
                httpx.AsyncClient(base_url=target.url, limits=limits, timeout=120.0)
            )
            headers = {
                "authorization": f"Bearer {token}",
                "content-type": "application/json",
                "x-purpose": target.purpose,
            }
            first = await client.post(path, content=content, headers=headers)
            if first.status_code != 200:
                raise RuntimeError(f"{target.name}: HTTP {first.status_code}: {first.text[:500]}")
            nodes[target.name] = check_body(first.json(), expected, target.name, work.fields)
            onces[target.name] = _poster(target.name, client, path, content, headers)
            await run_load(target.name, onces[target.name], args.warmup, args.concurrency)

        rounds = min(args.rounds, args.requests) if len(targets) > 1 else 1
        parts: dict[str, list[Measurement]] = {t.name: [] for t in targets}
        for index in range(rounds):
            size = args.requests // rounds + (1 if index < args.requests % rounds else 0)
            for target in targets if index % 2 == 0 else list(reversed(targets)):
                once = onces[target.name]
                parts[target.name].append(await run_load(target.name, once, size, args.concurrency))
    return [
        (merge(label(t.name, work), parts[t.name], args.concurrency), nodes[t.name])
        for t in targets
    ]


def _poster(
    name: str, client: httpx.AsyncClient, path: str, content: bytes, headers: dict[str, str]
) -> Callable[[], Awaitable[None]]:
    async def once() -> None:
        response = await client.post(path, content=content, headers=headers)
        if response.status_code != 200 or b'"errors"' in response.content:
            raise RuntimeError(f"{name}: HTTP {response.status_code}: {response.text[:500]}")

    return once


async def count_reads(
    settings: Settings, tenant_id: str, targets: Sequence[Target], sent: int
) -> list[AccessCount]:
    """Read events in the tenant's access log per gateway (by purpose), once the "on"
    gateways' batches have landed (they flush every 0.5 s) or 15 s have passed."""
    gateways = [t for t in targets if t.access_log is not None]
    region = RegionClient.from_config("eu", settings.eu)
    try:
        log = region.data[database_name(tenant_id)][ACCESS]

        async def counts() -> dict[str, int]:
            # The declared purpose is stored encrypted: count what the driver decrypts.
            tally = dict.fromkeys((t.name for t in gateways), 0)
            by_purpose = {t.purpose: t.name for t in gateways}
            async for doc in log.find({"kind": "read"}, {"purpose": 1}):
                purpose = doc.get("purpose")
                text = purpose.get("text") if isinstance(purpose, dict) else None
                if text in by_purpose:
                    tally[by_purpose[text]] += 1
            return tally

        deadline = time.monotonic() + 15.0
        seen = await counts()
        while time.monotonic() < deadline and any(
            t.access_log and seen[t.name] < sent for t in gateways
        ):
            await asyncio.sleep(0.25)
            seen = await counts()
        # Anything late (a batch beyond what was sent, or one from the "off" gateway).
        await asyncio.sleep(1.0)
        seen = await counts()
    finally:
        await region.aclose()
    return [
        AccessCount(t.name, t.purpose, bool(t.access_log), sent, seen[t.name]) for t in gateways
    ]


async def in_process(
    settings: Settings, tenant_id: str, args: argparse.Namespace, work: Workload, expected: int
) -> tuple[Measurement, list[dict[str, Any]]]:
    region = RegionClient.from_config("eu", settings.eu)
    try:
        collection: Collection = region.data[database_name(tenant_id)]["employees"]
        body = orjson.loads(await floor_body(collection, work.page, work.fields))
        nodes = check_body(body, expected, "floor", work.fields)

        async def once() -> None:
            await floor_body(collection, work.page, work.fields)

        await run_load("floor", once, args.warmup, args.concurrency)
        result = await run_load(label("floor", work), once, args.requests, args.concurrency)
        return result, nodes
    finally:
        await region.aclose()


async def measure(
    args: argparse.Namespace, settings: Settings, fixture: Fixture, targets: Sequence[Target]
) -> Measured:
    results: list[Measurement] = []
    # The gateways together (interleaved), then each other server on its own.
    gateways = [t for t in targets if t.access_log is not None]
    groups = [gateways, *([t] for t in targets if t.access_log is None)]
    for work in workloads(args):
        expected = min(args.records, work.page)
        result, reference = await in_process(settings, fixture.tenant_id, args, work, expected)
        for group in groups:
            for measured, nodes in await over_http(group, fixture.token, args, work, expected):
                results.append(measured)
                if nodes != reference:
                    raise RuntimeError(f"{measured.name} answered differently from the floor")
        results.append(result)
    # Each gateway got, per page size, one checked request, the warm-up and the timed ones.
    sent = len(workloads(args)) * (1 + args.warmup + args.requests)
    access = await count_reads(settings, fixture.tenant_id, gateways, sent)
    profile = None
    if args.profile:
        from bench.support.read_profile import profile_paths

        works = sorted(workloads(args), key=lambda w: (-w.page, w.plain))
        pairs = [(w.page, w.fields) for w in works]
        requests = min(args.requests, 50)
        profile = await profile_paths(settings, fixture.token, fixture.tenant_id, pairs, requests)
    return Measured(results, access, profile)


# -- reporting --------------------------------------------------------------------------------


def ratios(
    results: Sequence[Measurement], works: Sequence[Workload]
) -> dict[str, dict[str, float]]:
    by_name = {r.name: r for r in results}
    out: dict[str, dict[str, float]] = {}
    for work in works:
        floor = by_name[label("floor", work)]
        for r in results:
            if r.name.endswith(work.tag) and r is not floor:
                out[r.name] = {
                    "throughput_x_floor": r.rps / floor.rps,
                    "p50_x_floor": r.p50 / floor.p50,
                    "p99_x_floor": r.p99 / floor.p99,
                }
        compiled, standard = by_name.get(label(COMPILED, work)), by_name.get(label(STANDARD, work))
        if compiled is not None and standard is not None:
            out[f"compiled vs standard {work.tag}"] = {
                "throughput_x": compiled.rps / standard.rps,
                "p50_x": standard.p50 / compiled.p50,
                "p99_x": standard.p99 / compiled.p99,
            }
        off = by_name.get(label(OFF, work))
        if compiled is not None and off is not None:
            out[f"access log on / off {work.tag}"] = {
                "throughput_x": compiled.rps / off.rps,
                "p50_x": compiled.p50 / off.p50,
                "p99_x": compiled.p99 / off.p99,
            }
    return out


def within_bound(f: dict[str, float]) -> bool:
    return f["throughput_x"] >= 1 / ACCESS_LOG_BOUND and f["p50_x"] <= ACCESS_LOG_BOUND


def _describe(name: str, f: dict[str, float]) -> str:
    if name.startswith("compiled vs standard"):
        return (
            f"{name}: throughput = {f['throughput_x']:.2f}x (target >= 10x at 500), "
            f"p50 latency {f['p50_x']:.2f}x lower, p99 {f['p99_x']:.2f}x lower"
        )
    if name.startswith("access log on / off"):
        verdict = "within" if within_bound(f) else "OVER"
        return (
            f"{name}: throughput = {f['throughput_x']:.2f}x (target >= "
            f"{1 / ACCESS_LOG_BOUND:.2f}x), p50 = {f['p50_x']:.2f}x (target <= "
            f"{ACCESS_LOG_BOUND:.2f}x): {verdict} the 10 % bound"
        )
    target = " (target >= 0.90x)" if name.startswith(COMPILED) else ""
    return (
        f"{name} throughput = {f['throughput_x_floor']:.2f}x floor{target}; "
        f"p50 latency = {f['p50_x_floor']:.2f}x floor; p99 = {f['p99_x_floor']:.2f}x floor"
    )


def report(
    command: str, info: dict[str, Any], args: argparse.Namespace, measured: Measured
) -> dict[str, Any]:
    results = measured.results
    print(f"command: {command}")
    print(
        f"machine: nproc={info['nproc']}  cpu={info['cpu']}  python={info['python']} "
        f"({info['implementation']})  {info['platform']}"
    )
    print("packages: " + "  ".join(f"{k}={v}" for k, v in info["packages"].items()))
    print(
        f"workload: employees(first: {'/'.join(map(str, args.pages))}), 10 fields "
        f"({len(ENCRYPTED)} encrypted: {', '.join(ENCRYPTED)})"
        f"{'; [.., plain]: only the 7 plaintext ones' if args.plaintext else ''}; "
        f"{args.records} records seeded; "
        f"{args.requests} requests per path and page size after {args.warmup} warm-up; "
        f"concurrency {args.concurrency}; gateways in {min(args.rounds, args.requests)} "
        "alternating rounds; client, gateways and FerretDB (sqlite) share this machine"
    )
    print()
    w = max(12, *(len(r.name) for r in results))
    print(f"{'path':<{w}} {'requests':>8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for r in results:
        print(
            f"{r.name:<{w}} {r.requests:>8} {r.rps:>9.1f} {r.p50:>8.2f} {r.p99:>8.2f} "
            f"{r.mean:>8.2f}"
        )
    figures = ratios(results, workloads(args))
    print()
    for name, f in figures.items():
        print(_describe(name, f))
    if measured.access:
        print()
    for a in measured.access:
        want = a.sent if a.enabled else 0
        print(
            f"access log: {a.name} (x-purpose {a.purpose}) wrote {a.written} read events "
            f"for {a.sent} list requests (expected {want}): {'ok' if a.ok else 'MISMATCH'}"
        )
    if measured.profile is not None:
        from bench.support.read_profile import print_profile

        print()
        print_profile(measured.profile)
    return {
        "command": command,
        "machine": info,
        "workload": {
            "queries": {w.tag: list_query(w.page, w.fields) for w in workloads(args)},
            "records": args.records,
            "requests": args.requests,
            "warmup": args.warmup,
            "concurrency": args.concurrency,
            "rounds": min(args.rounds, args.requests),
            "encrypted_fields": list(ENCRYPTED),
        },
        "results": [r.as_dict() for r in results],
        "ratios": {k: {n: round(v, 4) for n, v in f.items()} for k, f in figures.items()},
        "access_log": [a.as_dict() for a in measured.access],
        "profile": measured.profile,
    }


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.read_path",
        description="Time list queries through the gateway's compiled and standard paths "
        "over HTTP against the raw-driver floor.",
    )
    parser.add_argument("--pages", type=int, nargs="+", default=[50, 500], help="page sizes")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per path")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--records", type=int, default=500, help="employee records to seed")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per path")
    parser.add_argument(
        "--no-http-floor", action="store_true", help="skip the bare Starlette floor over HTTP"
    )
    parser.add_argument(
        "--access-log-compare",
        action="store_true",
        help="also time a compiled gateway with ENCLAVE_ACCESS_LOG=false",
    )
    parser.add_argument(
        "--profile", action="store_true", help="profile the compiled path in process"
    )
    parser.add_argument(
        "--plaintext",
        action="store_true",
        help="also time a selection without encrypted fields (nothing to decrypt)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=8,
        help="alternating rounds the timed requests of the gateways are split into",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 100_000:
        parser.error("--requests must be between 1 and 100000")
    if not 1 <= args.concurrency <= 256:
        parser.error("--concurrency must be between 1 and 256")
    if not 1 <= args.records <= 10_000:
        parser.error("--records must be between 1 and 10000")
    if not all(1 <= page <= 500 for page in args.pages):
        parser.error("--pages must be between 1 and 500 (the gateway's largest page)")
    if not 0 <= args.warmup <= 10_000:
        parser.error("--warmup must be between 0 and 10000")
    if not 1 <= args.rounds <= 1000:
        parser.error("--rounds must be between 1 and 1000")
    return args


def run(args: argparse.Namespace, root: Path, cleanup: contextlib.ExitStack) -> Measured:
    settings = started_stack(root, cleanup)
    print(f"creating an EU tenant and {args.records} employees", file=sys.stderr, flush=True)
    fixture = asyncio.run(prepare(settings, args.records))

    targets: list[Target] = []
    gateways = [
        (COMPILED, "gateway-compiled", {}, "bench-compiled", True),
        (STANDARD, "gateway-standard", {"ENCLAVE_COMPILED_READS": "false"}, "bench-standard", True),
    ]
    if args.access_log_compare:
        gateways.append(
            (OFF, "gateway-log-off", {"ENCLAVE_ACCESS_LOG": "false"}, "bench-off", False)
        )
    for name, slug, extra, purpose, access_log in gateways:
        gateway = enclave_serve(name, root / "logs" / f"{slug}.log")
        cleanup.callback(gateway.stop)
        print(f"starting the {name} gateway on :{gateway.port}", file=sys.stderr, flush=True)
        gateway.start(child_env(settings, **extra))
        targets.append(Target(name, gateway.url, purpose, access_log))
    if not args.no_http_floor:
        port = free_port()
        floor = ChildProcess(
            "http-floor",
            ["uv", "run", "--frozen", "python", "-m", "bench.support.floor", "--port", str(port)],
            port,
            root / "logs" / "http-floor.log",
            health_path="/healthz",
            cwd=PROJECT_ROOT,
        )
        cleanup.callback(floor.stop)
        print(f"starting the HTTP floor on :{floor.port}", file=sys.stderr, flush=True)
        floor.start(child_env(settings, BENCH_TENANT_ID=fixture.tenant_id))
        targets.append(Target("http-floor", floor.url, "bench-http-floor"))
    print("measuring", file=sys.stderr, flush=True)
    return asyncio.run(measure(args, settings, fixture, targets))


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark("bench.read_path", argv, parse_args, run, report)


if __name__ == "__main__":
    raise SystemExit(main())
