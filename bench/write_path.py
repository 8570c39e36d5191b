"""Write-path benchmark: audited create and update against the raw-driver floor, in one run.

Run as ``uv run python -m bench.write_path [--requests N] [--concurrency C] [--json PATH]``.

It starts its own FerretDB (EU only: nothing here touches the US region or Redis) in a
temporary folder and creates one EU tenant. Everything then runs in this process, with no
HTTP, so that only the write path is measured:

- ``audited``: ``store.for_tenant(tid).create(datasheet("employees"), values, actor)`` and
  ``.update(sheet, id, expected_version, {"salary": n, "jobTitle": t}, actor)``: the
  values blob, the intent under its unique claim with the next audit sequence number, the
  change itself and the outcome (storage.mongo.writes); an update first reads the record
  (version check, and the "before" values the entry keeps).
- ``floor``: the same documents encrypted with the same ``FieldCodec`` (same fields, same
  algorithms, one ``encrypt`` per field as the write path does) and written with one
  ``insert_one``, or ``update_one({"_id": id}, {"$set": ...})`` with the same ``$set`` as
  the write path's apply (less ``_seq``), to ``employees_floor``, a collection with the
  same indexes as ``employees`` in the same tenant database, through the same region
  ``data`` client; no audit, no read.
- ``floor _id+_v`` (updates only): the floor's update with the write path's own filter,
  ``{"_id": id, "_v": expected}``. On FerretDB 1.24 (sqlite) a lookup by ``_id`` alone
  costs about the same whatever the collection's size, while with ``_v`` beside it the
  cost grows with the collection (a scan, as measured while writing this), so this path
  tells the cost of that filter apart from the cost of the audit.

All paths get the same values, warm-up, number of operations and concurrency (a closed
loop of C workers; for updates each worker owns distinct records, so no update conflicts;
both floor update paths update the floor's records, in the same order). The timed
operations are split into rounds that rotate which path goes first (A B, B A, ...; with
three, A B C, B C A, C A B, ...) so that drift in the machine and the growing database
weigh on all alike.

Round trips are counted on a second set of region clients built like
``RegionClient.from_config`` but with a ``pymongo.monitoring.CommandListener``: after one
warm-up operation of each kind (which fetches the data key from the key vault and finds
the audit sequence), it records the commands each further operation sends and how long
each took, which shows how much of an operation is spent waiting on the server.

All load goes to 127.0.0.1 and is bounded; the server is stopped by its PID at the end, on
error and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bson.binary import Binary
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from bench.support.data import JOB_TITLES, employee_values
from bench.support.floor import Collection
from bench.support.measure import Measurement, merge, run_benchmark
from bench.support.stack import make_settings
from gateway.dev.servers import LocalStack
from gateway.settings import Settings
from regions.clients import KEY_VAULT_NAMESPACE, RegionClient, RegionRegistry
from regions.routing import database_name
from schema.datasheets import Datasheet, datasheet
from storage.auditmac import EntryAuthenticator
from storage.base import TenantStore
from storage.mongo.codec import FieldCodec, encode
from storage.mongo.decryption import tenant_scope
from storage.mongo.records import new_record_id
from storage.mongo.store import MongoStore
from storage.mongo.writes import AUDIT, OUTCOMES, VALUES, now
from storage.values import Actor, Value

SHEET = "employees"
FLOOR_COLLECTION = "employees_floor"
AUDITED, FLOOR, FLOOR_V = "audited", "floor", "floor _id+_v"
KINDS = ("create", "update")
#: The paths timed for each kind. ``floor _id+_v`` updates the floor's records with the
#: write path's own filter (``_id`` and the expected ``_v``), to tell the cost of that
#: filter on the server apart from the cost of the audit.
PATHS = {"create": (AUDITED, FLOOR), "update": (AUDITED, FLOOR, FLOOR_V)}


def records_of(path: str) -> str:
    """The path whose created records *path* updates."""
    return FLOOR if path == FLOOR_V else path


TITLES = [title for titles in JOB_TITLES.values() for title in titles]
KEY_VAULT_DB = KEY_VAULT_NAMESPACE.split(".", 1)[0]
UPDATED = ("salary", "jobTitle")


def update_values(k: int) -> dict[str, Value]:
    """The *k*-th update: a new salary (encrypted, randomized) and job title (plaintext)."""
    return {"salary": 42_000 + (k * 7_919 % 98) * 1_000, "jobTitle": TITLES[k % len(TITLES)]}


# -- the two paths ----------------------------------------------------------------------------


@dataclass
class Paths:
    """Audited and floor create and update for one tenant, on one set of region clients."""

    store: TenantStore
    codec: FieldCodec
    floor: Collection
    raw: AsyncDatabase[dict[str, Any]]  # the tenant database through the plain client
    sheet: Datasheet
    actor: Actor
    versions: dict[str, int] = field(default_factory=dict)  # record id -> current version

    async def _stored(self, values: Mapping[str, Value]) -> dict[str, Any]:
        """As the write path stores values: encoded, then encrypted field by field."""
        return {
            name: await self.codec.encrypt(
                self.sheet.by_name[name], encode(self.sheet.by_name[name], value)
            )
            for name, value in values.items()
            if value is not None
        }

    async def audited_create(self, values: Mapping[str, Value]) -> str:
        record = await self.store.records.create(self.sheet, values, self.actor)
        self.versions[record.id] = record.version
        return record.id

    async def audited_update(self, record_id: str, k: int) -> None:
        version = self.versions[record_id]
        record = await self.store.records.update(
            self.sheet, record_id, version, update_values(k), self.actor
        )
        self.versions[record_id] = record.version

    async def floor_create(self, values: Mapping[str, Value]) -> str:
        at = now()
        record_id = new_record_id()
        meta = {"_archived": False, "_owner": self.actor.user_id, "_v": 1, "_updated": at}
        await self.floor.insert_one(
            {"_id": record_id, **await self._stored(values), **meta, "_created": at}
        )
        self.versions[record_id] = 1
        return record_id

    async def floor_update(self, record_id: str, k: int, *, check_version: bool = False) -> None:
        version = self.versions[record_id]
        stored = await self._stored(update_values(k))
        query: dict[str, Any] = {"_id": record_id}
        if check_version:
            query["_v"] = version
        result = await self.floor.update_one(
            query, {"$set": {**stored, "_v": version + 1, "_updated": now()}}
        )
        if result.matched_count != 1:
            raise RuntimeError(f"floor update of {record_id} at version {version} matched nothing")
        self.versions[record_id] = version + 1

    async def floor_update_v(self, record_id: str, k: int) -> None:
        await self.floor_update(record_id, k, check_version=True)

    def create(self, path: str) -> Callable[[Mapping[str, Value]], Awaitable[str]]:
        return self.audited_create if path == AUDITED else self.floor_create

    def update(self, path: str) -> Callable[[str, int], Awaitable[None]]:
        return {
            AUDITED: self.audited_update,
            FLOOR: self.floor_update,
            FLOOR_V: self.floor_update_v,
        }[path]


def make_paths(
    region: RegionClient, mac: EntryAuthenticator, tenant_id: str, admin_id: str
) -> Paths:
    store = MongoStore(RegionRegistry({region.name: region}), mac).for_tenant(tenant_id)
    return Paths(
        store=store,
        codec=FieldCodec(region.encryption, tenant_id),
        floor=region.data[database_name(tenant_id)][FLOOR_COLLECTION],
        raw=region.plain[database_name(tenant_id)],
        sheet=datasheet(SHEET),
        actor=Actor(user_id=admin_id, roles=("admin",)),
    )


# -- the load loop ----------------------------------------------------------------------------


async def run_ops(
    name: str, count: int, concurrency: int, op: Callable[[int, int], Awaitable[None]]
) -> Measurement:
    """*count* calls ``op(worker, k)``, k = 0, 1, ..., at most *concurrency* at a time."""
    next_op = 0
    latencies: list[float] = []

    async def worker(w: int) -> None:
        nonlocal next_op
        while next_op < count:
            k, next_op = next_op, next_op + 1
            start = time.perf_counter()
            await op(w, k)
            latencies.append((time.perf_counter() - start) * 1000.0)

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(min(concurrency, count))))
    return Measurement(name, count, concurrency, time.perf_counter() - started, latencies)


def split(total: int, rounds: int) -> list[int]:
    return [total // rounds + (1 if r < total % rounds else 0) for r in range(rounds)]


class Phase:
    """Creates, then updates, of both paths; the records each path created, by worker."""

    def __init__(self, paths: Paths, args: argparse.Namespace, values: list[dict[str, Value]]):
        self.paths = paths
        self.args = args
        self.values = values  # the same values for both paths, in the same order
        self.created: dict[str, list[str]] = {AUDITED: [], FLOOR: []}
        self.done: dict[str, int] = {AUDITED: 0, FLOOR: 0}  # creates so far, per path
        self.updates: dict[str, int] = dict.fromkeys(PATHS["update"], 0)
        self.turns: dict[tuple[str, int], int] = {}  # (path, worker) -> updates so far

    async def creates(self, path: str, count: int) -> Measurement:
        create = self.paths.create(path)
        base = self.done[path]
        self.done[path] += count

        async def op(w: int, k: int) -> None:
            self.created[path].append(await create(self.values[base + k]))

        return await run_ops(f"{path} create", count, self.args.concurrency, op)

    async def updates_of(self, path: str, count: int) -> Measurement:
        """Worker w updates records w, w + C, w + 2C, ... of its path, in turn."""
        update = self.paths.update(path)
        records = self.created[records_of(path)]
        c = self.args.concurrency
        base = self.updates[path]
        self.updates[path] += count

        async def op(w: int, k: int) -> None:
            turn = self.turns.get((path, w), 0)
            self.turns[path, w] = turn + 1
            own = records[w::c]
            await update(own[turn % len(own)], base + k)

        return await run_ops(f"{path} update", count, c, op)


async def timed(paths: Paths, args: argparse.Namespace) -> list[Measurement]:
    rng = random.Random(20240601)
    total = args.warmup + args.requests
    values = [employee_values(rng, i) for i in range(total)]
    phase = Phase(paths, args, values)
    results: list[Measurement] = []
    for kind in KINDS:
        run = phase.creates if kind == "create" else phase.updates_of
        paths_of_kind = PATHS[kind]
        for path in paths_of_kind:
            if args.warmup:
                await run(path, args.warmup)
        parts: dict[str, list[Measurement]] = {path: [] for path in paths_of_kind}
        for r, count in enumerate(split(args.requests, args.rounds)):
            if count == 0:
                continue
            first = r % len(paths_of_kind)
            for path in paths_of_kind[first:] + paths_of_kind[:first]:
                parts[path].append(await run(path, count))
        results += [merge(f"{path} {kind}", parts[path]) for path in paths_of_kind]
    await check_stored(paths, phase)
    return results


async def check_stored(paths: Paths, phase: Phase) -> None:
    """Both paths wrote what they were asked to, encrypting the same fields; every audit
    intent has its committed outcome."""
    floor = paths.floor
    db = floor.database
    employees = db[SHEET]
    for name, coll, made in (
        (AUDITED, employees, phase.updates[AUDITED]),
        (FLOOR, floor, phase.updates[FLOOR] + phase.updates[FLOOR_V]),
    ):
        ids = phase.created[name]
        if await coll.count_documents({}) != len(ids):
            raise RuntimeError(f"{name}: {len(ids)} creates but a different number of records")
        if (
            await coll.count_documents({"_v": {"$gt": 1}})
            != len([i for i in ids if paths.versions[i] > 1])
            or sum(paths.versions[i] - 1 for i in ids) != made
        ):
            raise RuntimeError(f"{name}: {made} updates made but not all of them applied")
    intents = await db[AUDIT].count_documents({})
    committed = await db[OUTCOMES].count_documents({"outcome": "committed"})
    if intents != committed or await db[VALUES].count_documents({}) != intents:
        raise RuntimeError(f"{intents} audit intents but {committed} committed outcomes")
    last = phase.created[AUDITED][-1], phase.created[FLOOR][-1]
    with tenant_scope(paths.store.tenant_id):  # decrypted as the tenant's own values
        docs = [await employees.find_one({"_id": last[0]}), await floor.find_one({"_id": last[1]})]
    for doc in docs:
        if (
            doc is None
            or not isinstance(doc["firstName"], str)
            or not isinstance(doc["salary"], int)
        ):
            raise RuntimeError(f"a record did not decrypt: {doc!r}")
    # Read back without decryption: the same fields are ciphertext in both collections.
    encrypted = []
    for name, record_id in ((SHEET, last[0]), (FLOOR_COLLECTION, last[1])):
        raw = await paths.raw[name].find_one({"_id": record_id})
        assert raw is not None
        encrypted.append(
            sorted(k for k, v in raw.items() if isinstance(v, Binary) and v.subtype == 6)
        )
    if encrypted[0] != encrypted[1] or "salary" not in encrypted[0]:
        raise RuntimeError(f"encrypted fields differ: audited {encrypted[0]}, floor {encrypted[1]}")


# -- counting round trips ---------------------------------------------------------------------


@dataclass(slots=True)
class Call:
    database: str
    command: str
    collection: str
    ms: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.command} {self.collection}".strip()

    @property
    def key_vault(self) -> bool:
        return self.database == KEY_VAULT_DB


class CommandCounter(CommandListener):
    """Every command the clients send, with its round-trip time (send to reply)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._pending: dict[tuple[int, Any], Call] = {}

    def take(self) -> list[Call]:
        calls, self.calls = self.calls, []
        return calls

    def started(self, event: CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        call = Call(
            event.database_name, event.command_name, target if isinstance(target, str) else ""
        )
        self.calls.append(call)
        self._pending[event.request_id, event.connection_id] = call

    def succeeded(self, event: CommandSucceededEvent) -> None:
        call = self._pending.pop((event.request_id, event.connection_id), None)
        if call is not None:
            call.ms = event.duration_micros / 1000.0

    def failed(self, event: CommandFailedEvent) -> None:
        call = self._pending.pop((event.request_id, event.connection_id), None)
        if call is not None:
            call.ms = event.duration_micros / 1000.0


@dataclass
class Trips:
    """The commands of *ops* operations of one kind on one path."""

    name: str
    per_op: list[list[Call]]
    wall_ms: list[float]

    def server(self, op: list[Call]) -> list[Call]:
        return [c for c in op if not c.key_vault]

    @property
    def counts(self) -> Counter[int]:
        return Counter(len(self.server(op)) for op in self.per_op)

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self.server(self.per_op[0])]

    @property
    def key_vault_fetches(self) -> int:
        return sum(1 for op in self.per_op for c in op if c.key_vault)

    def mean_ms(self, i: int) -> float:
        """The mean round-trip time of the i-th command of an operation."""
        return statistics.fmean(self.server(op)[i].ms for op in self.per_op)

    @property
    def wall(self) -> float:
        return statistics.fmean(self.wall_ms)

    @property
    def waiting(self) -> float:
        return statistics.fmean(sum(c.ms for c in op) for op in self.per_op)

    def as_dict(self) -> dict[str, Any]:
        return {
            "round_trips": dict(self.counts),
            "commands": [
                {"command": label, "mean_ms": round(self.mean_ms(i), 3)}
                for i, label in enumerate(self.labels)
            ],
            "key_vault_fetches": self.key_vault_fetches,
            "ops": len(self.per_op),
            "wall_ms": round(self.wall, 3),
            "waiting_ms": round(self.waiting, 3),
        }


async def count_trips(
    settings: Settings, tenant_id: str, admin_id: str, ops: int
) -> tuple[list[Trips], list[Call]]:
    """Round trips of *ops* operations of each kind on each path (after one warm-up each),
    and those of the very first audited create on fresh clients."""
    counter = CommandCounter()
    region = RegionClient.from_config("eu", settings.eu, listeners=[counter])
    try:
        paths = make_paths(region, settings.audit_mac(), tenant_id, admin_id)
        rng = random.Random(7)
        first: list[Call] = []
        for path in (AUDITED, FLOOR):
            counter.take()
            record_id = await paths.create(path)(employee_values(rng, 0))
            if path == AUDITED:
                first = counter.take()
            for updater in PATHS["update"]:
                if records_of(updater) == path:
                    await paths.update(updater)(record_id, 0)
        results: list[Trips] = []
        created: dict[str, list[str]] = {}
        for kind in KINDS:
            for path in PATHS[kind]:
                per_op: list[list[Call]] = []
                wall: list[float] = []
                records: list[str] = []
                for k in range(ops):
                    values = employee_values(rng, k)
                    counter.take()
                    start = time.perf_counter()
                    if kind == "create":
                        records.append(await paths.create(path)(values))
                    else:
                        await paths.update(path)(created[records_of(path)][k], k)
                    wall.append((time.perf_counter() - start) * 1000.0)
                    per_op.append(counter.take())
                if kind == "create":
                    created[path] = records
                results.append(Trips(f"{path} {kind}", per_op, wall))
        return results, first
    finally:
        await region.aclose()


async def encryption_alone(paths: Paths, ops: int) -> dict[str, float]:
    """Mean ms of the client-side encryption of one create: its fields (both paths) and the
    audit blob (audited only; the same shape as the write path's)."""
    rng = random.Random(11)
    fields: list[float] = []
    blob: list[float] = []
    for k in range(ops):
        values = employee_values(rng, k)
        start = time.perf_counter()
        await paths._stored(values)
        fields.append((time.perf_counter() - start) * 1000.0)
        after = {n: encode(paths.sheet.by_name[n], v) for n, v in values.items()}
        start = time.perf_counter()
        await paths.codec.encrypt_blob(
            {"before": {}, "after": after, "meta": {"_archived": False}, "client": {}}
        )
        blob.append((time.perf_counter() - start) * 1000.0)
    return {"fields_ms": statistics.fmean(fields), "blob_ms": statistics.fmean(blob)}


# -- running ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    results: list[Measurement]
    trips: list[Trips]
    first: list[Call]
    encryption: dict[str, float]


async def setup(region: RegionClient, mac: EntryAuthenticator) -> tuple[str, str]:
    """One EU tenant; the floor collection with the same indexes as the employees one."""
    store = MongoStore(RegionRegistry({region.name: region}), mac)
    info, admin = await store.create_tenant("Northwind GmbH", "DE", "admin@northwind-gmbh.example")
    db = region.data[database_name(info.id)]
    for name, spec in (await db[SHEET].index_information()).items():
        if name != "_id_":
            await db[FLOOR_COLLECTION].create_index(
                list(spec["key"]), name=name, unique=bool(spec.get("unique", False))
            )
    return info.id, admin.id


async def measure(args: argparse.Namespace, settings: Settings) -> Outcome:
    region = RegionClient.from_config("eu", settings.eu)
    try:
        # One key for every store here: documents written under one are checked under it.
        tenant_id, admin_id = await setup(region, settings.audit_mac())
        print(f"tenant {tenant_id}; measuring", file=sys.stderr, flush=True)
        paths = make_paths(region, settings.audit_mac(), tenant_id, admin_id)
        results = await timed(paths, args)
        encryption = await encryption_alone(paths, args.trip_ops)
    finally:
        await region.aclose()
    print("counting round trips", file=sys.stderr, flush=True)
    trips, first = await count_trips(settings, tenant_id, admin_id, args.trip_ops)
    return Outcome(results, trips, first, encryption)


# -- reporting --------------------------------------------------------------------------------


def trips_text(trips: Trips) -> str:
    counts = trips.counts
    if len(counts) == 1:
        n = next(iter(counts))
        text = f"{n} round trip{'s' if n != 1 else ''} ({', '.join(trips.labels)})"
    else:
        text = "varies: " + ", ".join(f"{n} in {c} ops" for n, c in sorted(counts.items()))
    if trips.key_vault_fetches:
        text += f"; plus {trips.key_vault_fetches} key-vault fetches over {len(trips.per_op)} ops"
    return text


def first_text(first: list[Call]) -> str:
    labels = Counter(c.label for c in first)
    vault = sum(1 for c in first if c.key_vault)
    probes = sum(1 for c in first if c.command == "find" and c.collection in (AUDIT, "audit_seals"))
    detail = ", ".join(f"{label} x{n}" if n > 1 else label for label, n in labels.items())
    return (
        f"{len(first)} round trips ({detail}): {vault} key-vault, "
        f"{probes} to find the next audit sequence number"
    )


def ratios(results: Sequence[Measurement]) -> dict[str, dict[str, float]]:
    by_name = {r.name: r for r in results}
    out: dict[str, dict[str, float]] = {}
    for kind in KINDS:
        a = by_name[f"{AUDITED} {kind}"]
        for floor in PATHS[kind][1:]:
            f = by_name[f"{floor} {kind}"]
            key = kind if floor == FLOOR else f"{kind} vs {floor}"
            out[key] = {
                "throughput_x_floor": a.rps / f.rps,
                "p50_x_floor": a.p50 / f.p50,
                "p99_x_floor": a.p99 / f.p99,
            }
    return out


def report(
    command: str, info: dict[str, Any], args: argparse.Namespace, outcome: Outcome
) -> dict[str, Any]:
    sheet = datasheet(SHEET)
    encrypted = [f.name for f in sheet.encrypted_fields]
    print(f"command: {command}")
    print(
        f"machine: nproc={info['nproc']}  cpu={info['cpu']}  python={info['python']} "
        f"({info['implementation']})  {info['platform']}"
    )
    print("packages: " + "  ".join(f"{k}={v}" for k, v in info["packages"].items()))
    print(
        f"workload: one EU tenant, in process (no HTTP); create = one employee, "
        f"{len(sheet.fields)} fields ({len(encrypted)} encrypted: {', '.join(encrypted)}); "
        "update = salary (encrypted) and jobTitle; "
        f"{args.requests} creates then {args.requests} updates per path after {args.warmup} "
        f"warm-up each, in {args.rounds} rounds rotating which path goes first; "
        f"concurrency {args.concurrency}; this process and FerretDB 1.24 (sqlite) share "
        "this machine"
    )
    print()
    print(f"{'path':<20} {'ops':>6} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for r in outcome.results:
        print(
            f"{r.name:<20} {r.requests:>6} {r.rps:>9.1f} {r.p50:>8.2f} {r.p99:>8.2f} {r.mean:>8.2f}"
        )
    figures = ratios(outcome.results)
    print()
    for key, f in figures.items():
        kind, _, floor = key.partition(" vs ")
        print(
            f"{kind}: audited = {f['throughput_x_floor']:.2f}x {floor or FLOOR} throughput "
            f"(p50 latency {f['p50_x_floor']:.2f}x, p99 {f['p99_x_floor']:.2f}x)"
        )
    print()
    print("round trips per operation (after one warm-up of each; key-vault fetches apart):")
    for t in outcome.trips:
        print(f"  {t.name}: {trips_text(t)}")
    print(f"  the first audited create on new clients: {first_text(outcome.first)}")
    print()
    ops = len(outcome.trips[0].per_op)
    print(
        f"where the time goes ({ops} operations of each on the listening clients, one at a time):"
    )
    print(
        f"  {'path':<20} {'ms/op':>7} {'on the wire':>12} {'elsewhere':>10}  per command, mean ms"
    )
    for t in outcome.trips:
        per = ", ".join(f"{label} {t.mean_ms(i):.2f}" for i, label in enumerate(t.labels))
        print(
            f"  {t.name:<20} {t.wall:>7.2f} {t.waiting:>7.2f} ({t.waiting / t.wall:>3.0%})"
            f" {t.wall - t.waiting:>10.2f}  {per}"
        )
    enc = outcome.encryption
    print(
        f"  client-side encryption alone: the {len(encrypted)} fields of one create "
        f"{enc['fields_ms']:.2f} ms; the audit blob of one create {enc['blob_ms']:.2f} ms"
    )
    return {
        "command": command,
        "machine": info,
        "workload": {
            "datasheet": SHEET,
            "fields": len(sheet.fields),
            "encrypted_fields": encrypted,
            "update_fields": list(UPDATED),
            "requests": args.requests,
            "warmup": args.warmup,
            "rounds": args.rounds,
            "concurrency": args.concurrency,
        },
        "results": [r.as_dict() for r in outcome.results],
        "ratios": {k: {n: round(v, 4) for n, v in f.items()} for k, f in figures.items()},
        "round_trips": {t.name: t.as_dict() for t in outcome.trips},
        "first_audited_create": [c.label for c in outcome.first],
        "encryption_ms": {k: round(v, 4) for k, v in enc.items()},
    }


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.write_path",
        description="Time audited creates and updates against the same encrypted insert or "
        "update through the raw driver with no audit.",
    )
    parser.add_argument("--requests", type=int, default=300, help="timed operations per path")
    parser.add_argument("--concurrency", type=int, default=1, help="operations in flight")
    parser.add_argument("--warmup", type=int, default=20, help="untimed operations per path")
    parser.add_argument(
        "--rounds", type=int, default=4, help="rounds alternating which path goes first"
    )
    parser.add_argument(
        "--trip-ops",
        type=int,
        default=30,
        help="operations of each kind whose commands are counted",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 10_000:
        parser.error("--requests must be between 1 and 10000")
    if not 1 <= args.concurrency <= min(64, args.requests):
        parser.error("--concurrency must be between 1 and 64, and at most --requests")
    if not 0 <= args.warmup <= 1_000:
        parser.error("--warmup must be between 0 and 1000")
    if not 1 <= args.rounds <= min(50, args.requests):
        parser.error("--rounds must be between 1 and 50, and at most --requests")
    if not 1 <= args.trip_ops <= 1_000:
        parser.error("--trip-ops must be between 1 and 1000")
    return args


def run(args: argparse.Namespace, root: Path, cleanup: contextlib.ExitStack) -> Outcome:
    stack = LocalStack.create(root)
    print(f"starting FerretDB (EU :{stack.eu.port}) under {root}", file=sys.stderr, flush=True)
    cleanup.callback(stack.eu.stop)
    stack.eu.start()
    settings = make_settings(root, stack)
    return asyncio.run(measure(args, settings))


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark("bench.write_path", argv, parse_args, run, report)


if __name__ == "__main__":
    raise SystemExit(main())
