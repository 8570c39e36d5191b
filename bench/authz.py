"""Authorisation benchmark: a 500-record list as a role with field rules and a row filter,
against the same list with authorisation "off", in one run.

Run as ``uv run python -m bench.authz [--requests N] [--warmup W] [--json PATH]``.

It starts its own FerretDB (EU, US) and Redis in a temporary folder, creates one EU tenant
and seeds 1000 employees (500 in Sales, 500 in Engineering, alternating), and starts
``enclave serve`` in a child process. Through the GraphQL admin API it creates the role
``sales-reader`` (employees: read firstName, lastName, workEmail, jobTitle, department,
startDate, status; phone masked; no write; row filter department = "Sales") and a user
holding it. Both callers then send the same document over HTTP::

    employees(first: 500, filter: {department: "Sales"}) { nodes { id firstName lastName
    workEmail jobTitle department startDate status phone } }

and both get the same 500 records with the same fields (4 of them encrypted):

- ``off``: the built-in ``admin`` role. There is no switch that turns authorisation off in
  the gateway, so "off" means the admin's policy: every field readable, nothing masked, no
  row filter. The per-request checks still run (policy lookup, the cached document
  authorisation, the resolver's grant checks), but they decide nothing.
- ``authorised``: ``sales-reader``. Field rules (phone masked in all 500 records, the
  extension naming masked fields) and the row filter (added to the database query) apply.

The two callers are measured in one loop, alternating in pairs (A B, B A, A B, ...), so
drift in the machine affects both alike. The ratio authorised / off is reported for p50
and mean latency, against the target of at most 1.05. With 60 requests per caller the
ratio moves by a few percent from run to run (p99 is then close to the maximum); use
``--requests 200`` (about 2.5 minutes) for a steadier figure. All load goes to 127.0.0.1 and is
bounded; every child process is stopped by its PID at the end, on error and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.support.data import JOB_TITLES, bench_tenant, employee_values
from bench.support.measure import Measurement, run_benchmark
from bench.support.stack import child_env, started_stack
from gateway.dev.servers import enclave_serve
from gateway.services import Services
from gateway.settings import Settings
from schema.datasheets import datasheet

PAGE = 500
DEPARTMENTS = ("Sales", "Engineering")
ROLE = "sales-reader"
READ = ["firstName", "lastName", "workEmail", "jobTitle", "department", "startDate", "status"]
MASK = ["phone"]
ENCRYPTED = ("firstName", "lastName", "workEmail", "phone")
SELECTED = ["id", *READ, *MASK]
QUERY = (
    f'query {{ employees(first: {PAGE}, filter: {{department: "Sales"}}) {{ nodes {{ '
    + " ".join(SELECTED)
    + " } } }"
)
CREATE_ROLE = "mutation($input: RoleInput!) { createRole(input: $input) { name version } }"
CREATE_USER = 'mutation { createUser(email: "reader@example.com", roles: ["sales-reader"]) { id } }'
ROLE_INPUT: dict[str, Any] = {
    "name": ROLE,
    "sheets": [
        {
            "datasheet": "employees",
            "read": READ,
            "mask": MASK,
            "rowFilter": {"equals": [{"field": "department", "value": "Sales"}]},
        }
    ],
}
MASK_PREFIX = "•••"
OFF, ON = "off", "authorised"


# -- set-up -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tenant:
    id: str
    admin_id: str
    admin_token: str


async def seed(settings: Settings, per_department: int, batch: int) -> Tenant:
    """One EU tenant, its admin token, and *per_department* employees in each of Sales and
    Engineering, alternating, written *batch* at a time."""
    services = Services.from_settings(settings)
    try:
        tenant = await bench_tenant(services)
        store, actor, rng = tenant.store, tenant.actor, tenant.rng
        sheet = datasheet("employees")
        total = per_department * len(DEPARTMENTS)
        rows = []
        for index in range(total):
            values = employee_values(rng, index)
            department = DEPARTMENTS[index % len(DEPARTMENTS)]
            values["department"] = department
            values["jobTitle"] = rng.choice(JOB_TITLES[department])
            rows.append(values)
        for start in range(0, total, batch):
            await asyncio.gather(
                *(
                    store.records.create(sheet, values, actor)
                    for values in rows[start : start + batch]
                )
            )
        return Tenant(tenant.id, tenant.admin_id, tenant.token)
    finally:
        await services.aclose()


async def graphql(
    client: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        content=orjson.dumps({"query": query, "variables": variables or {}}),
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:500]}")
    body: dict[str, Any] = response.json()
    if body.get("errors"):
        raise RuntimeError(f"errors in the response: {body['errors']}")
    return body


async def make_reader(client: httpx.AsyncClient, settings: Settings, tenant: Tenant) -> str:
    """Create the role and its user through the admin API; a token for that user."""
    await graphql(client, tenant.admin_token, CREATE_ROLE, {"input": ROLE_INPUT})
    body = await graphql(client, tenant.admin_token, CREATE_USER)
    user_id = str(body["data"]["createUser"]["id"])
    services = Services.from_settings(settings)
    try:
        # The gateway reads the user's roles from the database; the claim is informational.
        return services.tokens.issue(tenant.id, user_id, [ROLE])
    finally:
        await services.aclose()


# -- checking ---------------------------------------------------------------------------------


def nodes_of(body: dict[str, Any], caller: str) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = body["data"]["employees"]["nodes"]
    if len(nodes) != PAGE:
        raise RuntimeError(f"{caller}: {len(nodes)} nodes, expected {PAGE}")
    for node in nodes:
        if sorted(node) != sorted(SELECTED):
            raise RuntimeError(f"{caller}: unexpected fields {sorted(node)}")
        if node["department"] != "Sales":
            raise RuntimeError(f"{caller}: a {node['department']} record in the answer")
    return nodes


def check_pair(off: dict[str, Any], on: dict[str, Any]) -> None:
    """Both answers hold the same 500 records; the reader's phones are masked."""
    a, b = nodes_of(off, OFF), nodes_of(on, ON)
    if [n["id"] for n in a] != [n["id"] for n in b]:
        raise RuntimeError("the two callers got different records")
    for x, y in zip(a, b, strict=True):
        if any(x[k] != y[k] for k in SELECTED if k not in MASK):
            raise RuntimeError(f"record {x['id']} differs between the callers")
        for name in MASK:
            if not isinstance(x[name], str) or x[name].startswith(MASK_PREFIX):
                raise RuntimeError(f"off: {name} of {x['id']} is not in the clear: {x[name]!r}")
            if not isinstance(y[name], str) or not y[name].startswith(MASK_PREFIX):
                raise RuntimeError(f"authorised: {name} of {y['id']} is not masked: {y[name]!r}")
        for name in ("firstName", "lastName", "workEmail"):
            if not isinstance(x[name], str) or not x[name]:
                raise RuntimeError(f"{name} of {x['id']} was not decrypted: {x[name]!r}")
    if "masked" in (off.get("extensions") or {}):
        raise RuntimeError("off: the response names masked fields")
    if (on.get("extensions") or {}).get("masked") != {"Employee": MASK}:
        raise RuntimeError(f"authorised: extensions {on.get('extensions')!r}")


# -- measuring --------------------------------------------------------------------------------


async def measure(
    args: argparse.Namespace, settings: Settings, tenant: Tenant, url: str
) -> list[Measurement]:
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60.0) as client:
        reader_token = await make_reader(client, settings, tenant)
        tokens = {OFF: tenant.admin_token, ON: reader_token}
        check_pair(
            await graphql(client, tokens[OFF], QUERY), await graphql(client, tokens[ON], QUERY)
        )
        content = orjson.dumps({"query": QUERY})
        headers = {
            name: {"authorization": f"Bearer {t}", "content-type": "application/json"}
            for name, t in tokens.items()
        }

        async def once(name: str) -> float:
            start = time.perf_counter()
            response = await client.post("/graphql", content=content, headers=headers[name])
            elapsed = (time.perf_counter() - start) * 1000.0
            if response.status_code != 200 or b'"errors"' in response.content:
                raise RuntimeError(f"{name}: HTTP {response.status_code}: {response.text[:500]}")
            return elapsed

        async def pairs(count: int) -> tuple[dict[str, list[float]], float]:
            """*count* pairs over C workers; a pair is off then authorised, or the reverse
            (alternating), so neither always goes first."""
            latencies: dict[str, list[float]] = {OFF: [], ON: []}
            next_pair = 0

            async def worker() -> None:
                nonlocal next_pair
                while next_pair < count:
                    index, next_pair = next_pair, next_pair + 1
                    order = (OFF, ON) if index % 2 == 0 else (ON, OFF)
                    for name in order:
                        latencies[name].append(await once(name))

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(min(args.concurrency, count))))
            return latencies, time.perf_counter() - started

        await pairs(args.warmup)
        latencies, seconds = await pairs(args.requests)
    # Each caller had the loop half the time; its own wall time is not separable.
    return [
        Measurement(name, args.requests, args.concurrency, seconds / 2, latencies[name])
        for name in (OFF, ON)
    ]


# -- reporting --------------------------------------------------------------------------------


def report(
    command: str, info: dict[str, Any], args: argparse.Namespace, results: Sequence[Measurement]
) -> dict[str, Any]:
    off, on = results
    p50, mean = on.p50 / off.p50, on.mean / off.mean
    met = p50 <= 1.05 and mean <= 1.05
    print(f"command: {command}")
    print(
        f"machine: nproc={info['nproc']}  cpu={info['cpu']}  python={info['python']} "
        f"({info['implementation']})  {info['platform']}"
    )
    print("packages: " + "  ".join(f"{k}={v}" for k, v in info["packages"].items()))
    print(
        f'workload: employees(first: {PAGE}, filter: {{department: "Sales"}}), '
        f"{len(SELECTED)} fields ({len(ENCRYPTED)} encrypted: {', '.join(ENCRYPTED)}); "
        f"{args.per_department * len(DEPARTMENTS)} records seeded "
        f"({args.per_department} Sales, {args.per_department} Engineering); "
        f"{args.requests} requests per caller after {args.warmup} warm-up, interleaved in "
        f"pairs; concurrency {args.concurrency}; client, gateway and FerretDB (sqlite) share "
        "this machine"
    )
    print(
        f"callers: off = admin (full policy, no row filter, nothing masked); "
        f"authorised = {ROLE} ({len(READ)} fields read, phone masked, "
        'row filter department = "Sales")'
    )
    print()
    print(f"{'caller':<12} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for r in results:
        print(f"{r.name:<12} {r.requests:>8} {r.p50:>8.2f} {r.p99:>8.2f} {r.mean:>8.2f}")
    print()
    print(
        f"authorised / off: p50 = {p50:.3f}x, mean = {mean:.3f}x "
        f"(p99 = {on.p99 / off.p99:.3f}x); target <= 1.05: {'met' if met else 'NOT met'}"
    )
    return {
        "command": command,
        "machine": info,
        "workload": {
            "query": QUERY,
            "records": args.per_department * len(DEPARTMENTS),
            "returned": PAGE,
            "requests": args.requests,
            "warmup": args.warmup,
            "concurrency": args.concurrency,
            "encrypted_fields": list(ENCRYPTED),
            "role": ROLE_INPUT,
        },
        "results": [
            {k: v for k, v in r.as_dict().items() if k not in ("seconds", "rps")} for r in results
        ],
        "ratios": {"p50_x": round(p50, 4), "mean_x": round(mean, 4), "target": 1.05, "met": met},
    }


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.authz",
        description="Time the 500-record list query as a role with field rules and a row "
        "filter against the same query as admin (authorisation trivially passing).",
    )
    parser.add_argument("--requests", type=int, default=60, help="timed requests per caller")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests per caller")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="workers, each sending pairs in turn"
    )
    parser.add_argument(
        "--per-department", type=int, default=PAGE, help=f"records per department (>= {PAGE})"
    )
    parser.add_argument(
        "--seed-batch",
        type=int,
        default=1,
        help="concurrent seeding writes (1: concurrent creates in one tenant collide on the "
        "audit sequence and are slower)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    if not 2 <= args.requests <= 10_000:
        parser.error("--requests must be between 2 and 10000")
    if not 0 <= args.warmup <= 1_000:
        parser.error("--warmup must be between 0 and 1000")
    if not 1 <= args.concurrency <= 8:
        parser.error("--concurrency must be between 1 and 8")
    if not PAGE <= args.per_department <= 5_000:
        parser.error(f"--per-department must be between {PAGE} and 5000")
    if not 1 <= args.seed_batch <= 50:
        parser.error("--seed-batch must be between 1 and 50")
    return args


def run(args: argparse.Namespace, root: Path, cleanup: contextlib.ExitStack) -> list[Measurement]:
    settings = started_stack(root, cleanup)
    total = args.per_department * len(DEPARTMENTS)
    print(f"creating an EU tenant and {total} employees", file=sys.stderr, flush=True)
    started = time.perf_counter()
    tenant = asyncio.run(seed(settings, args.per_department, args.seed_batch))
    print(f"seeded in {time.perf_counter() - started:.1f}s", file=sys.stderr, flush=True)

    gateway = enclave_serve("gateway", root / "logs" / "gateway.log")
    cleanup.callback(gateway.stop)
    print(f"starting the gateway on :{gateway.port}", file=sys.stderr, flush=True)
    gateway.start(child_env(settings))
    print(f"creating {ROLE} and its user; measuring", file=sys.stderr, flush=True)
    return asyncio.run(measure(args, settings, tenant, gateway.url))


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark("bench.authz", argv, parse_args, run, report)


if __name__ == "__main__":
    raise SystemExit(main())
