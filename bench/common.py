"""Shared pieces of the benchmarks: the load loop, latency figures, and the
read-path floor (the same find through the raw driver, shaped as the gateway's JSON).

``python -m bench.common --port P`` serves that floor over HTTP (uvicorn, as ``enclave
serve`` runs the gateway) with settings from the ``ENCLAVE_`` environment and the tenant in
``BENCH_TENANT_ID``: it reads the request body, ignores it, and answers with the floor's
JSON for a page of ``?page=N`` records (default 50; ``&fields=plain``: the plaintext
selection). It authenticates nothing and parses
no GraphQL: it is only a floor to compare with.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shlex
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson
from pymongo.asynchronous.collection import AsyncCollection

__all__ = [
    "FIELDS",
    "FILTER",
    "PAGE",
    "PLAIN_FIELDS",
    "PROJECTION",
    "QUERY",
    "Collection",
    "Measurement",
    "floor_body",
    "list_query",
    "machine",
    "run_load",
]

#: The page size and selection of the measured list query: 10 fields, of which
#: firstName, lastName and workEmail are encrypted; the other seven are plaintext.
PAGE = 50
#: The datasheet fields the query selects, in the order the floor emits them.
FIELDS = ("firstName", "lastName", "workEmail", "jobTitle", "department", "startDate", "status")
#: A selection without encrypted fields (nothing to decrypt): 7 fields with the meta ones.
PLAIN_FIELDS = ("jobTitle", "department", "startDate", "status")


def list_query(page: int, fields: Sequence[str] = FIELDS) -> str:
    """The measured list query, for a page of *page* records."""
    return (
        f"query {{ employees(first: {page}) {{ nodes {{ id {' '.join(fields)} "
        "version archived } } }"
    )


def projection(fields: Sequence[str]) -> dict[str, int]:
    """The find the gateway runs for a selection of *fields* (see storage.mongo.records: the
    record meta fields plus the selected datasheet fields; non-archived only; by _id)."""
    return {"_v": 1, "_archived": 1, "_created": 1, "_updated": 1, "_owner": 1}


QUERY = list_query(PAGE)
PROJECTION: dict[str, int] = {**projection(FIELDS), **dict.fromkeys(FIELDS, 1)}
FILTER: dict[str, Any] = {"_archived": {"$ne": True}}

Collection = AsyncCollection[dict[str, Any]]


async def floor_body(
    collection: Collection, page: int = PAGE, fields: Sequence[str] = FIELDS
) -> bytes:
    """The floor of one list request: find, auto-decrypt, shape as the gateway's JSON."""
    find = {**projection(fields), **dict.fromkeys(fields, 1)}
    cursor = collection.find(FILTER, find, sort=[("_id", 1)], limit=page + 1)
    docs = await cursor.to_list(length=page + 1)
    nodes = [
        {
            "id": doc["_id"],
            **{name: doc.get(name) for name in fields},
            "version": int(doc["_v"]),
            "archived": bool(doc.get("_archived", False)),
        }
        for doc in docs[:page]
    ]
    return orjson.dumps({"data": {"employees": {"nodes": nodes}}})


# -- the load loop --------------------------------------------------------------------------


@dataclass(slots=True)
class Measurement:
    """Latencies of one path, in milliseconds, and the wall time they took."""

    name: str
    requests: int
    concurrency: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: int) -> float:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0]
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[p - 1]

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.latencies_ms)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "requests": self.requests,
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 4),
            "rps": round(self.rps, 2),
            "p50_ms": round(self.p50, 3),
            "p99_ms": round(self.p99, 3),
            "mean_ms": round(self.mean, 3),
        }


async def run_load(
    name: str, once: Callable[[], Awaitable[None]], requests: int, concurrency: int
) -> Measurement:
    """*requests* calls of *once*, at most *concurrency* at a time (closed loop)."""
    remaining = requests
    latencies: list[float] = []

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            start = time.perf_counter()
            await once()
            latencies.append((time.perf_counter() - start) * 1000.0)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, requests))))
    return Measurement(name, requests, concurrency, time.perf_counter() - started, latencies)


# -- the machine ------------------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def machine() -> dict[str, Any]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "nproc": usable or os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": {
            d: _version(d)
            for d in (
                "pymongo",
                "pymongocrypt",
                "strawberry-graphql",
                "starlette",
                "uvicorn",
                "httpx",
                "orjson",
            )
        },
    }


# -- the HTTP floor server --------------------------------------------------------------------


def http_floor_app() -> Any:
    """A Starlette app answering POST /graphql with the floor's JSON (see the module doc)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from gateway.settings import Settings
    from regions.clients import RegionClient
    from regions.routing import database_name

    tenant_id = os.environ["BENCH_TENANT_ID"]
    settings = Settings()
    region = RegionClient.from_config("eu", settings.eu)
    collection: Collection = region.data[database_name(tenant_id)]["employees"]

    async def graphql(request: Request) -> Response:
        await request.body()
        page = int(request.query_params.get("page", PAGE))
        fields = PLAIN_FIELDS if request.query_params.get("fields") == "plain" else FIELDS
        body = await floor_body(collection, page, fields)
        return Response(body, media_type="application/json")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await region.aclose()

    return Starlette(
        routes=[Route("/graphql", graphql, methods=["POST"]), Route("/healthz", healthz)],
        lifespan=lifespan,
    )


def main(argv: Sequence[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Serve the read-path floor over HTTP.")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    # As `enclave serve` runs the gateway.
    uvicorn.run(
        http_floor_app(), host="127.0.0.1", port=args.port, log_level="info", proxy_headers=False
    )


if __name__ == "__main__":
    main()


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_benchmark(
    module: str,
    argv: Sequence[str] | None,
    parse: Callable[[Sequence[str] | None], Any],
    run: Callable[[Any, Path, contextlib.ExitStack], Any],
    report: Callable[[str, dict[str, Any], Any, Any], dict[str, Any]],
) -> int:
    """The shared main of every benchmark: parse arguments, run in a temporary folder whose
    servers are stopped on the way out (also on SIGTERM and Ctrl-C), print the report and
    optionally write it as JSON (``--json PATH``)."""
    args = parse(argv)
    command = shlex.join(
        ["uv", "run", "python", "-m", module, *(sys.argv[1:] if argv is None else argv)]
    )
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="enclave-bench-") as tmp,
            contextlib.ExitStack() as cleanup,
        ):
            results = run(args, Path(tmp), cleanup)
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        return 130
    figures = report(command, machine(), args, results)
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
        print(f"\nwrote {args.json}")
    return 0
