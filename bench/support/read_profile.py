"""Where the time of a compiled read goes: an in-process cProfile of the gateway app (the
client talks to it through httpx's ASGI transport, no socket), its functions' own time
summed by what they belong to.

Used by ``python -m bench.read_path --profile`` (the compiled path and the standard one);
the categories are coarse on purpose: the driver (pymongo, bson), decryption
(pymongocrypt, libmongocrypt's Python callbacks, ``cryptography``), waiting for FerretDB
(the event loop's poll), the compiled projection and read plan (resolvers), GraphQL
parsing, validation and execution (graphql-core, Strawberry), HTTP (Starlette, httpx, the
ASGI transport), JSON (orjson) and the rest (asyncio, authentication, logging).
"""

from __future__ import annotations

import contextlib
import cProfile
import pstats
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

import httpx
import orjson

from bench.support.floor import Collection, floor_body, list_query
from gateway.app import create_app
from gateway.settings import Settings
from regions.clients import RegionClient
from regions.routing import database_name

__all__ = ["print_profile", "profile_one", "profile_paths", "sequential"]

_BY_PATH = [
    ("pymongocrypt", "decryption"),
    ("/cffi/", "decryption"),
    ("/cryptography/", "decryption"),
    ("pymongo/asynchronous/encryption", "decryption"),
    ("pymongo/", "driver"),
    ("/bson/", "driver"),
    ("resolvers/", "projection and read plan"),
    ("storage/", "store (query building, records)"),
    ("/graphql/", "GraphQL (graphql-core, Strawberry)"),
    ("/strawberry/", "GraphQL (graphql-core, Strawberry)"),
    ("/starlette/", "HTTP"),
    ("/httpx/", "HTTP"),
    ("/httpcore/", "HTTP"),
    ("/anyio/", "HTTP"),
    ("/asyncio/", "event loop"),
]
_BY_NAME = [
    ("orjson", "JSON"),
    ("poll", "waiting for FerretDB"),
    ("select", "waiting for FerretDB"),
    ("_cbson", "driver"),
    ("bson", "driver"),
    ("recv", "driver"),
    ("send", "driver"),
    ("_hashlib", "decryption"),
    ("_cffi", "decryption"),
    ("cipher", "decryption"),
    ("hmac", "decryption"),
    ("openssl", "decryption"),
    ("mongocrypt", "decryption"),
]


def _category(path: str, name: str) -> str:
    for part, category in _BY_PATH:
        if part in path:
            return category
    if path == "~":
        for part, category in _BY_NAME:
            if part in name.lower():
                return category
    return "other"


async def profile_paths(
    settings: Settings,
    token: str,
    tenant_id: str,
    workloads: Sequence[tuple[int, Sequence[str]]],
    requests: int,
) -> dict[str, Any]:
    """For each (page, fields) of *workloads*, both paths and the floor timed one request at
    a time in this process, without the profiler (sequential); then the compiled and the
    standard path profiled (profile_one) at the first workload's page."""
    standard = settings.model_copy(update={"compiled_reads": False})
    page = workloads[0][0]
    return {
        "sequential": [
            await sequential(settings, token, tenant_id, p, fields, requests)
            for p, fields in workloads
        ],
        "compiled": await profile_one(settings, token, page, requests),
        "standard": await profile_one(standard, token, page, requests),
    }


async def sequential(
    settings: Settings,
    token: str,
    tenant_id: str,
    page: int,
    fields: Sequence[str],
    requests: int,
) -> dict[str, Any]:
    """Median milliseconds per request, one request at a time, in this process (no HTTP
    server, no concurrency: the CPU each path needs, plus its wait for FerretDB), for the
    compiled app, the standard app and the raw-driver floor, in interleaved rounds."""
    content = orjson.dumps({"query": list_query(page, fields)})
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    standard = settings.model_copy(update={"compiled_reads": False})
    apps = {"compiled": create_app(settings, background=False)}
    apps["standard"] = create_app(standard, background=False)
    region = RegionClient.from_config("eu", settings.eu)
    collection: Collection = region.data[database_name(tenant_id)]["employees"]
    times: dict[str, list[float]] = {"compiled": [], "standard": [], "floor": []}
    try:
        async with contextlib.AsyncExitStack() as stack:
            calls: dict[str, Callable[[], Awaitable[object]]] = {}
            for name, app in apps.items():
                await stack.enter_async_context(app.router.lifespan_context(app))
                transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
                client = await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url="http://gateway")
                )
                calls[name] = partial(client.post, "/graphql", content=content, headers=headers)
            calls["floor"] = partial(floor_body, collection, page, fields)
            for call in calls.values():
                for _ in range(3):
                    await call()
            for round_ in range(requests):
                order = list(calls) if round_ % 2 == 0 else list(reversed(calls))
                for name in order:
                    started = time.perf_counter()
                    await calls[name]()
                    times[name].append((time.perf_counter() - started) * 1000)
    finally:
        await region.aclose()
    ms = {name: statistics.median(values) for name, values in times.items()}
    return {
        "page": page,
        "fields": list(fields),
        "requests": requests,
        "median_ms": {k: round(v, 2) for k, v in ms.items()},
        "compiled_x_floor_throughput": round(ms["floor"] / ms["compiled"], 3),
        "compiled_x_standard_throughput": round(ms["standard"] / ms["compiled"], 3),
    }


async def profile_one(settings: Settings, token: str, page: int, requests: int) -> dict[str, Any]:
    """Run *requests* list queries of *page* records, one at a time, under cProfile."""
    app = create_app(settings, background=False)
    content = orjson.dumps({"query": list_query(page)})
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    profiler = cProfile.Profile()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            for _ in range(5):
                await client.post("/graphql", content=content, headers=headers)
            profiler.enable()
            for _ in range(requests):
                response = await client.post("/graphql", content=content, headers=headers)
                if response.status_code != 200 or b'"errors"' in response.content:
                    raise RuntimeError(f"profile: {response.text[:300]}")
            profiler.disable()
    stats = pstats.Stats(profiler)
    totals: dict[str, float] = {}
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (path, _line, name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        category = _category(path, name)
        totals[category] = totals.get(category, 0.0) + tottime
    whole = sum(totals.values())
    return {
        "page": page,
        "requests": requests,
        "ms_per_request": {
            k: round(v * 1000 / requests, 3)
            for k, v in sorted(totals.items(), key=lambda kv: -kv[1])
        },
        "share": {k: round(v / whole, 4) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])},
    }


def print_profile(profiles: dict[str, Any]) -> None:
    for seq in profiles["sequential"]:
        print(
            f"in process, one at a time, {seq['requests']} requests of {seq['page']} records, "
            f"{len(seq['fields'])} datasheet fields (interleaved; median ms/request): "
            + ", ".join(f"{k} {v:.1f}" for k, v in seq["median_ms"].items())
            + f"; compiled = {seq['compiled_x_floor_throughput']:.2f}x floor, "
            f"{seq['compiled_x_standard_throughput']:.2f}x standard (requests per second)"
        )
    for path in ("compiled", "standard"):
        profile = profiles[path]
        print(
            f"profile: {path} path, {profile['requests']} requests of {profile['page']} records, "
            "one at a time, in process (cProfile own time; profiling inflates small functions)"
        )
        for name, ms in profile["ms_per_request"].items():
            print(f"  {name:<34} {ms:>8.2f} ms/request  {profile['share'][name] * 100:5.1f} %")
