"""No data change without an audit entry, and no committed entry without its change, however
a gateway dies.

A real ``enclave serve`` process takes a stream of concurrent mutations of one tenant's
employees (creates, updates, archives, restores, a few deletes) and is killed with SIGKILL
at a random moment, ``ROUNDS`` times over, a fresh process each time. Then, with no gateway
running, every intent left pending is settled by the reconciler, and the database is read
directly and checked both ways:

- every employee entry in the log has an outcome, and replaying the committed ones per
  record, in sequence order, gives exactly the stored records (version, sequence, times
  and every value), and no record that a committed delete removed;
- every stored record has a committed create and points at its last committed entry;
- every mutation the gateway acknowledged is in the log, committed, with the values sent.

Set ``ENCLAVE_CRASH_SEED`` to repeat a run's choices (the seed is printed; the scheduling of
concurrent requests and the moment the kill lands in the server are not reproducible), and
``ENCLAVE_CRASH_ROUNDS`` for more or fewer kills.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pymongo.asynchronous.database import AsyncDatabase

from gateway.services import Services
from gateway.settings import Settings
from regions.routing import database_name
from storage.mongo.decryption import tenant_scope
from storage.mongo.store import MongoStore
from storage.mongo.writes import AUDIT, LEASE, OUTCOMES, SEALS, VALUES
from tests.support.client import GraphQLClient, make_tenant
from tests.support.employees import CREATE_EMPLOYEE, UPDATE_EMPLOYEE, employee_input
from tests.support.gateways import gateway_env, running_gateways

ROUNDS = int(os.environ.get("ENCLAVE_CRASH_ROUNDS", "8"))
#: Concurrent clients per round, and at most this many requests per round in all.
WORKERS = 6
BUDGET = 400
#: The kill lands this long (seconds) after the stream starts.
KILL_AFTER = (0.05, 0.6)
INITIAL = 4
#: A round that takes longer than this (start-up included) fails the test.
ROUND_LIMIT = 60.0
HTTP_TIMEOUT = 10.0
#: How often each gateway runs its reconciler and its sealer (seconds; default 30 and 5).
BACKGROUND_INTERVAL = "0.25"
#: Past every lease, even one that began just now: everything pending is settled.
SETTLE_ALL = -(LEASE + dt.timedelta(seconds=1))

ARCHIVE = """
mutation($id: ID!, $v: Int!) { archiveEmployee(id: $id, expectedVersion: $v) { id version } }
"""
RESTORE = """
mutation($id: ID!, $v: Int!) { restoreEmployee(id: $id, expectedVersion: $v) { id version } }
"""
DELETE = """
mutation($id: ID!, $v: Int!) { deleteEmployee(id: $id, expectedVersion: $v) { id version } }
"""
VERSION = "query($id: ID!) { employee(id: $id) { version } }"
LIST = """
query($after: String) {
  employees(first: 200, after: $after, includeArchived: true) {
    nodes { id version }
    pageInfo { hasNextPage endCursor }
  }
}
"""
FIELDS = {
    "create": "createEmployee",
    "update": "updateEmployee",
    "archive": "archiveEmployee",
    "restore": "restoreEmployee",
    "delete": "deleteEmployee",
}
DOCUMENTS = {
    "create": CREATE_EMPLOYEE,
    "update": UPDATE_EMPLOYEE,
    "archive": ARCHIVE,
    "restore": RESTORE,
    "delete": DELETE,
}
STATUSES = ("ACTIVE", "ON_LEAVE", "TERMINATED")
DEPARTMENTS = ("Engineering", "Sales", "Finance", "Legal")


# -- the stream of mutations ------------------------------------------------------------------


@dataclass(frozen=True)
class Acked:
    """A mutation the gateway acknowledged: the version it made and the values sent, in
    their stored form (``after``: None clears a field; ``meta``: e.g. ``_archived``)."""

    op: str
    record: str
    version: int
    after: dict[str, Any]
    meta: dict[str, Any]


@dataclass(frozen=True)
class Planned:
    op: str
    variables: dict[str, Any]
    record: str | None
    after: dict[str, Any]
    meta: dict[str, Any]


@dataclass
class Round:
    index: int
    delay: float
    sent: int = 0
    acked: int = 0
    conflicts: int = 0
    cut: int = 0
    seconds: float = 0.0


@dataclass
class Stream:
    """What the clients know, shared by all of them: each record's latest version seen."""

    rng: random.Random
    known: dict[str, int] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    acked: list[Acked] = field(default_factory=list)
    serial: int = 0

    def learn(self, record: str, version: int) -> None:
        if record not in self.gone:
            self.known[record] = max(version, self.known.get(record, 0))

    def forget(self, record: str) -> None:
        self.gone.add(record)
        self.known.pop(record, None)

    def plan(self) -> Planned:
        rng = self.rng
        self.serial += 1
        if not self.known or rng.random() < 0.2:
            values = employee_input(
                salary=rng.randrange(30_000, 150_000), status=rng.choice(STATUSES)
            )
            return Planned("create", {"input": values}, None, values, {"_archived": False})
        record = rng.choice(sorted(self.known))
        target = {"id": record, "v": self.known[record]}
        roll = rng.random()
        if roll < 0.1:
            return Planned("archive", target, record, {}, {"_archived": True})
        if roll < 0.2:
            return Planned("restore", target, record, {}, {"_archived": False})
        if roll < 0.25 and len(self.known) > INITIAL:
            return Planned("delete", target, record, {}, {})
        values = self._update_values()
        return Planned("update", {**target, "input": values}, record, values, {})

    def _update_values(self) -> dict[str, Any]:
        rng, n = self.rng, self.serial
        choices: dict[str, Any] = {
            "salary": rng.randrange(30_000, 150_000),
            "jobTitle": f"Title {n}",
            "department": rng.choice(DEPARTMENTS),
            "phone": None if rng.random() < 0.3 else f"+49 30 {n:06d}",
            "dateOfBirth": f"19{rng.randrange(50, 99)}-0{rng.randrange(1, 9)}-1{rng.randrange(9)}",
            "status": rng.choice(STATUSES),
            "address": f"Street {n}, Berlin",
            "lastName": f"Last{n}",
        }
        names = rng.sample(sorted(choices), k=rng.randint(1, 3))
        return {name: choices[name] for name in names}


async def _post(
    client: GraphQLClient, stop: asyncio.Event, query: str, variables: dict[str, Any]
) -> dict[str, Any] | None:
    """The response body, or None if the kill cut the request (only once it was sent)."""
    try:
        response = await client.raw(query, variables)
    except httpx.TransportError:
        if stop.is_set():
            return None
        raise
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _send(
    client: GraphQLClient, stream: Stream, stats: Round, stop: asyncio.Event, planned: Planned
) -> bool:
    """Send one mutation and learn from its answer; False if the kill cut it."""
    body = await _post(client, stop, DOCUMENTS[planned.op], planned.variables)
    if body is None:
        stats.cut += 1
        return False
    if errors := body.get("errors"):
        code = errors[0].get("extensions", {}).get("code")
        assert planned.record is not None and code in ("CONFLICT", "NOT_FOUND"), body
        if code == "NOT_FOUND":
            stream.forget(planned.record)
            return True
        stats.conflicts += 1
        read = await _post(client, stop, VERSION, {"id": planned.record})
        if read is None:
            return False
        codes = {e.get("extensions", {}).get("code") for e in read.get("errors", ())}
        assert codes <= {"NOT_FOUND"}, read
        node = None if codes else read["data"]["employee"]
        if node is None:  # deleted, by a delete the kill cut
            stream.forget(planned.record)
        else:
            stream.learn(planned.record, int(node["version"]))
        return True
    result = body["data"][FIELDS[planned.op]]
    record, version = str(result["id"]), int(result["version"])
    assert planned.record in (None, record), body
    stream.acked.append(Acked(planned.op, record, version, planned.after, planned.meta))
    stats.acked += 1
    if planned.op == "delete":
        stream.forget(record)
    else:
        stream.learn(record, version)
    return True


async def _worker(client: GraphQLClient, stream: Stream, stats: Round, stop: asyncio.Event) -> None:
    while not stop.is_set() and stats.sent < BUDGET:
        stats.sent += 1
        if not await _send(client, stream, stats, stop, stream.plan()):
            return


async def _crash_round(
    index: int, stream: Stream, token: str, env: Mapping[str, str], logs: Path
) -> Round:
    """Start a gateway, stream mutations at it, SIGKILL it mid-stream."""
    stats = Round(index, stream.rng.uniform(*KILL_AFTER))
    started = time.monotonic()
    async with asyncio.timeout(ROUND_LIMIT):
        with running_gateways([f"crash-{index}"], env, logs) as gateways:
            gateway = gateways[0]
            async with httpx.AsyncClient(base_url=gateway.url, timeout=HTTP_TIMEOUT) as http:
                client = GraphQLClient(http, token)
                await client.ok(LIST, {"after": None})  # warm up: tenant, policy, keys
                stop = asyncio.Event()
                async with asyncio.TaskGroup() as group:
                    for _ in range(WORKERS):
                        group.create_task(_worker(client, stream, stats, stop))
                    await asyncio.sleep(stats.delay)
                    stop.set()
                    gateway.kill()
    stats.seconds = time.monotonic() - started
    return stats


async def _listed(client: GraphQLClient) -> dict[str, int]:
    """Every employee the gateway serves, with its version."""
    served: dict[str, int] = {}
    after: str | None = None
    while True:
        page = (await client.ok(LIST, {"after": after}))["employees"]
        served.update({str(n["id"]): int(n["version"]) for n in page["nodes"]})
        if not page["pageInfo"]["hasNextPage"]:
            return served
        after = page["pageInfo"]["endCursor"]


# -- the checks -------------------------------------------------------------------------------


@dataclass
class Replayed:
    """A record as its committed entries make it, in sequence order."""

    state: dict[str, Any] | None = None  # None: not created yet, or deleted
    version: int = 0
    seq: int = 0
    created: Any = None
    updated: Any = None
    history: dict[int, tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=dict)

    def document(self, record: str) -> dict[str, Any] | None:
        if self.state is None:
            return None
        return {
            "_id": record,
            **self.state,
            "_v": self.version,
            "_seq": self.seq,
            "_created": self.created,
            "_updated": self.updated,
        }


def _replay(
    entries: list[dict[str, Any]], values: Mapping[str, Mapping[str, Any]], problems: list[str]
) -> dict[str, Replayed]:
    replayed: dict[str, Replayed] = {}
    for entry in entries:
        seq, op, record, version = entry["_id"], entry["op"], entry["record"], entry["version"]
        kept = values.get(entry["values"])
        if kept is None or not isinstance(kept.get("change"), dict):
            problems.append(f"seq {seq}: values {entry['values']} missing or not decrypted")
            continue
        after: dict[str, Any] = kept["change"]["after"]
        meta: dict[str, Any] = kept["change"]["meta"]
        r = replayed.setdefault(record, Replayed())
        if version != r.version + 1:
            problems.append(f"seq {seq}: {op} {record} to v{version} after v{r.version}")
        if op == "create":
            if r.version:
                problems.append(f"seq {seq}: second create of {record}")
            r.state, r.created = {}, entry["at"]
        elif r.state is None:
            problems.append(f"seq {seq}: {op} of {record}, which is deleted or never created")
            r.state = {}
        if op == "delete":
            r.state = None
        else:
            assert r.state is not None
            for name, value in after.items():
                if value is None:
                    r.state.pop(name, None)
                else:
                    r.state[name] = value
            r.state.update(meta)
        r.version, r.seq, r.updated = version, seq, entry["at"]
        r.history[version] = (op, after, meta)
    return replayed


def _diff(got: Mapping[str, Any] | None, want: Mapping[str, Any] | None) -> object:
    """What differs between a stored record and its replay, as {field: (stored, replayed)}."""
    if got is None:
        return "absent, but not deleted by the log"
    if want is None:
        return "stored, but deleted by the log"
    return {
        k: (got.get(k), want.get(k)) for k in sorted({*got, *want}) if got.get(k) != want.get(k)
    }


@dataclass
class Summary:
    entries: int
    employee_entries: int
    records: int


async def _check(db: AsyncDatabase[dict[str, Any]], acked: list[Acked]) -> Summary:
    problems: list[str] = []
    entries = await db[AUDIT].find({}, sort=[("_id", 1)]).to_list()
    outcomes = {o["_id"]: o for o in await db[OUTCOMES].find({}).to_list()}
    values = {v["_id"]: v for v in await db[VALUES].find({}).to_list()}
    stored = {d["_id"]: d for d in await db["employees"].find({}).to_list()}
    by_seq = {e["_id"]: e for e in entries}

    problems += [
        f"seq {e['_id']} ({e['op']}) has no outcome" for e in entries if e["_id"] not in outcomes
    ]
    ours = [e for e in entries if e.get("datasheet") == "employees" and e["op"] != "attempt"]
    committed = []
    for entry in ours:
        outcome = outcomes.get(entry["_id"], {}).get("outcome")
        if outcome == "committed":
            committed.append(entry)
        else:  # every intent carries its change, so every one can be rolled forward
            problems.append(f"seq {entry['_id']}: {entry['op']} {entry['record']} is {outcome}")
    replayed = _replay(committed, values, problems)
    # Every record the log explains is stored exactly as the log says, or absent if deleted.
    for record, r in replayed.items():
        want, got = r.document(record), stored.get(record)
        if want != got:
            problems.append(f"{record}: stored != replayed: {_diff(got, want)}")
    # Every stored record is explained by committed entries.
    for record, doc in stored.items():
        if record not in replayed:
            problems.append(f"{record}: stored (v{doc.get('_v')}) without a committed create")
            continue
        last = by_seq.get(doc.get("_seq"))
        if last is None or (last["record"], last["version"]) != (record, doc.get("_v")):
            problems.append(f"{record}: _seq {doc.get('_seq')} is not its entry for v{doc['_v']}")
    # Every acknowledged mutation is in the log, committed, with the values sent.
    for ack in acked:
        known = replayed.get(ack.record)
        logged = known.history.get(ack.version) if known else None
        if logged is None:
            problems.append(
                f"acknowledged {ack.op} {ack.record} v{ack.version}: no committed entry"
            )
            continue
        op, after, meta = logged
        if op != ack.op or after != ack.after or any(meta.get(k) != v for k, v in ack.meta.items()):
            problems.append(f"acknowledged {ack} but the log has {op} {after} {meta}")
        if ack.op == "delete" and ack.record in stored:
            problems.append(f"acknowledged delete of {ack.record}, still stored")

    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])
    return Summary(len(entries), len(ours), len(stored))


async def _pending(db: AsyncDatabase[dict[str, Any]]) -> tuple[dict[str, int], int]:
    """The intents without an outcome: attempts, changes already applied (crash before the
    outcome) and changes not applied (crash between intent and data change); and how many
    were settled already, past their writer's lease, by a later gateway's reconciler."""
    entries = await db[AUDIT].find({}).to_list()
    outcomes = {o["_id"]: o["at"] async for o in db[OUTCOMES].find({}, {"at": 1})}
    counts = {"no change": 0, "applied": 0, "not applied": 0}
    late = 0
    for entry in entries:
        change = entry["op"] in FIELDS
        if entry["_id"] in outcomes:
            late += change and outcomes[entry["_id"]] >= entry["at"] + LEASE
            continue
        if not change:  # a refused attempt, or an event
            counts["no change"] += 1
            continue
        doc = await db[entry["datasheet"]].find_one({"_id": entry["record"]}, {"_v": 1})
        if entry["op"] == "delete":
            applied = doc is None or doc["_v"] >= entry["version"]
        else:
            applied = doc is not None and doc["_v"] >= entry["version"]
        counts["applied" if applied else "not applied"] += 1
    return counts, late


async def _orphans(db: AsyncDatabase[dict[str, Any]]) -> int:
    """Values no entry points to (a crash between writing them and the intent)."""
    pointed = {e["values"] async for e in db[AUDIT].find({"values": {"$ne": None}}, {"values": 1})}
    return len(set(await db[VALUES].distinct("_id")) - pointed)


# -- the test ---------------------------------------------------------------------------------


async def test_sigkilled_gateways_leave_every_change_audited_and_every_entry_applied(
    services: Services, settings: Settings, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    seed = int(os.environ.get("ENCLAVE_CRASH_SEED") or random.randrange(2**32))
    print(
        f"\ncrash consistency: seed {seed} (ENCLAVE_CRASH_SEED), {ROUNDS} rounds, logs {tmp_path}"
    )
    stream = Stream(random.Random(seed))
    tenant = await make_tenant(services, "DE", "Crash Org")
    admin = GraphQLClient(http, tenant.token)  # in process: the initial employees
    for _ in range(INITIAL):
        values = employee_input()
        made = (await admin.ok(CREATE_EMPLOYEE, {"input": values}))["createEmployee"]
        stream.acked.append(Acked("create", made["id"], 1, values, {"_archived": False}))
        stream.learn(made["id"], 1)

    # Each gateway reconciles and seals often, so that both also run mid-stream.
    env = gateway_env(
        settings,
        ENCLAVE_RECONCILE_INTERVAL_SECONDS=BACKGROUND_INTERVAL,
        ENCLAVE_AUDIT_SEAL_INTERVAL_SECONDS=BACKGROUND_INTERVAL,
    )
    rounds = []
    for index in range(ROUNDS):
        stats = await _crash_round(index, stream, tenant.token, env, tmp_path)
        rounds.append(stats)
        print(
            f"round {index}: kill after {stats.delay:.3f}s, {stats.sent} sent, "
            f"{stats.acked} acknowledged, {stats.conflicts} conflicts, {stats.cut} cut "
            f"({stats.seconds:.1f}s with start-up)"
        )
    assert sum(r.cut for r in rounds) > 0, "no kill landed while a mutation was in flight"

    # No gateway runs: settle everything pending, past every lease.
    db = MongoStore.of(services.store).registry["eu"].data[database_name(tenant.id)]
    store = services.store.for_tenant(tenant.id)
    with tenant_scope(tenant.id):  # the test reads the tenant's values decrypted
        pending, late = await _pending(db)
    settled = await store.audit.reconcile(older_than=SETTLE_ALL)
    print(
        f"pending after the last kill: {pending}; settled now: {settled}; "
        f"settled earlier by a restarted gateway's reconciler: {late}"
    )
    assert settled == sum(pending.values())
    assert await store.audit.reconcile(older_than=SETTLE_ALL) == 0

    # A gateway started again serves every record as stored, and takes writes.
    with running_gateways(["after"], env, tmp_path) as gateways:
        async with httpx.AsyncClient(base_url=gateways[0].url, timeout=HTTP_TIMEOUT) as client:
            after = GraphQLClient(client, tenant.token)
            stored = {d["_id"]: d["_v"] async for d in db["employees"].find({}, {"_v": 1})}
            served = await _listed(after)
            assert served == stored
            stream.known = dict(served)  # what the kills cut is settled now
            stats, stop = Round(ROUNDS, 0.0), asyncio.Event()
            for _ in range(2):  # each planned from what the one before taught
                assert await _send(after, stream, stats, stop, stream.plan())
            assert (stats.acked, stats.conflicts) == (2, 0)

    with tenant_scope(tenant.id):
        summary = await _check(db, stream.acked)
        orphans = await _orphans(db)
    print(
        f"checked {summary.entries} entries ({summary.employee_entries} employee changes), "
        f"{summary.records} records, {len(stream.acked)} acknowledged mutations; "
        f"{orphans} orphaned values"
    )

    last_seal = await db[SEALS].find_one({}, sort=[("_id", -1)])
    print(f"sealed by the gateways: through seq {last_seal['to'] if last_seal else 0}")
    key = settings.seal_key()
    for _ in range(100):
        if not await store.seals.seal(key):
            break
    report = await store.seals.verify(key)
    assert report.ok, report
    assert (report.entries, report.unsealed) == (summary.entries, 0), report
