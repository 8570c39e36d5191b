"""The records half of ``bench.scale``: one tenant's employees grown in steps (1,000, 10,000,
100,000, ...), and at each size a get by id, an update by id, the first and the last full
50-record page, and filtered first pages, over HTTP; plus the same first page through the raw
driver (what the database alone costs). The report gives each as its cost relative to the
first size."""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from bench.support.cluster import make_tenants
from bench.support.data import seed_records
from bench.support.floor import FILTER, PROJECTION, Collection
from bench.support.measure import Measurement
from gateway.services import Services
from gateway.settings import Settings
from regions.routing import database_name
from storage.mongo.records import encode_cursor
from storage.mongo.store import MongoStore

__all__ = ["STEPS", "Step", "records_part", "say", "timed_post"]

PAGE = """query($after: String, $first: Int!, $filter: EmployeeFilter) {
  employees(first: $first, after: $after, filter: $filter) {
    nodes { id firstName lastName workEmail department } pageInfo { hasNextPage endCursor } } }"""
GET = """query($id: ID!) { employee(id: $id) { id firstName lastName workEmail department } }"""
UPDATE = """mutation($id: ID!, $v: Int!, $input: EmployeeUpdateInput!) {
  updateEmployee(id: $id, expectedVersion: $v, input: $input) { id version } }"""
#: Filters of the filtered pages: a plaintext field (about 1 record in 7), a deterministic-
#: encrypted one (about 1 in 25), and one that matches nothing (reads every record after the
#: cursor: the cost of a filtered page that matches little grows with the collection).
FILTERS = {
    "filtered page, plaintext (department)": {"department": "Sales"},
    "filtered page, encrypted (lastName)": {"lastName": "Müller"},
    "filtered page, no match": {"lastName": "Nobody"},
}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def timed_post(
    client: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any]
) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
    )
    ms = (time.perf_counter() - started) * 1000.0
    body: dict[str, Any] = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"HTTP {response.status_code}: {str(body)[:300]}")
    return ms, body


#: Record counts at which the operations are timed, up to --records.
STEPS = (1_000, 10_000, 100_000, 1_000_000)


@dataclass
class Step:
    """Latencies at one size of the collection; failures kept, not raised."""

    records: int
    pages: list[Measurement]
    failures: list[str]


def _fixed(variables: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    return lambda: variables


def _calls(ids: list[str], rng: random.Random) -> dict[str, tuple[str, Callable[[], Any]]]:
    """Each timed operation: its GraphQL document and a maker of its variables. An update
    takes a record not updated before (version 1, as seeded)."""
    fresh = iter(rng.sample(ids, min(len(ids), 100)))
    page = {"first": 50, "after": None, "filter": None}
    last_full = encode_cursor(ids[len(ids) - 51])
    return {
        "get by id": (GET, lambda: {"id": rng.choice(ids)}),
        "update by id": (
            UPDATE,
            lambda: {"id": next(fresh), "v": 1, "input": {"jobTitle": rng.choice(["A", "B"])}},
        ),
        "first page": (PAGE, _fixed(page)),
        f"deep page (after record {len(ids) - 50:,})": (PAGE, lambda: {**page, "after": last_full}),
        **{name: (PAGE, _fixed({**page, "filter": f})) for name, f in FILTERS.items()},
    }


async def _time_step(
    client: httpx.AsyncClient, collection: Collection, token: str, ids: list[str], rounds: int
) -> Step:
    calls = _calls(ids, random.Random(len(ids)))
    latencies: dict[str, list[float]] = {name: [] for name in calls}
    failures: list[str] = []
    started = time.perf_counter()
    for round_ in range(rounds):
        order = list(calls) if round_ % 2 == 0 else list(reversed(calls))
        for name in order:
            query, variables = calls[name]
            try:
                ms, body = await timed_post(client, token, query, variables())
            except (RuntimeError, httpx.HTTPError) as exc:
                failures.append(f"{name}: {str(exc)[:200]}")
                continue
            nodes = (body["data"].get("employees") or {}).get("nodes")
            found = len(nodes or ())
            if name == "first page" or name.startswith("deep"):
                if found != 50:
                    raise RuntimeError(f"{name}: {found} records, not a full page")
            elif name in FILTERS and (found == 0) != name.endswith("no match"):
                raise RuntimeError(f"{name}: {found} records")
            latencies[name].append(ms)
    elapsed = time.perf_counter() - started
    pages = [Measurement(n, len(v), 1, elapsed, v) for n, v in latencies.items() if v]
    # The same first page through the driver in this process, with no socket timeout of its
    # own to hit: what the database costs.
    raw, begun_all = [], time.perf_counter()
    for _ in range(rounds):
        begun = time.perf_counter()
        await collection.find(FILTER, PROJECTION, sort=[("_id", 1)], limit=51).to_list()
        raw.append((time.perf_counter() - begun) * 1000.0)
    raw_seconds = time.perf_counter() - begun_all
    pages.append(Measurement("first page, raw driver (no gateway)", rounds, 1, raw_seconds, raw))
    return Step(len(ids), pages, failures)


def _patient_collection(
    settings: Settings, tenant_id: str
) -> tuple[AsyncMongoClient[Any], Collection]:
    """The tenant's employees through a client without the gateway's 20 s socket timeout
    and without decryption (the floor's cost is the query's, not the decryption's)."""
    uri = settings.eu.mongodb_uri.get_secret_value()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, socketTimeoutMS=600_000)
    return client, client[database_name(tenant_id)]["employees"]


async def records_part(
    args: argparse.Namespace,
    services: Services,
    client: httpx.AsyncClient,
    cleanup: contextlib.AsyncExitStack,
) -> dict[str, Any]:
    """Grow one tenant's employees step by step to --records, timing pages at each size."""
    tenant = (await make_tenants(services, 1))[0]
    region = MongoStore.of(services.store).registry["eu"]
    ids: list[str] = []
    steps, seed_seconds = [], 0.0
    patient, collection = _patient_collection(services.settings, tenant.id)
    cleanup.push_async_callback(patient.close)
    for size in [s for s in STEPS if s < args.records] + [args.records]:
        say(f"seeding employees up to {size:,} in {tenant.id}")
        started = time.perf_counter()
        ids = sorted(ids + await seed_records(region, tenant.id, tenant.admin, size - len(ids)))
        seed_seconds += time.perf_counter() - started
        say(f"timing pages at {size:,} records")
        steps.append(await _time_step(client, collection, tenant.token, ids, args.page_rounds))
    return {"records": len(ids), "seed_seconds": seed_seconds, "steps": steps}
