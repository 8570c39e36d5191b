"""A mixed read and write workload over GraphQL, across tenants and gateway processes.

Each of ``workers`` closed-loop clients picks a tenant at random and the next gateway in
turn, and sends one of: a create (20 %), an update of a record it created itself (25 %),
a read of such a record by id (15 %), or a 20-record list page (40 %). A worker only
updates its own records, with the version it was last given, so the workload makes no
``CONFLICT`` of its own; after any error or a cut connection it forgets the record (its
state is unknown to it). It stops after ``seconds``, or at ``budget`` requests, or when
``stop`` is set, whichever comes first.

Every response is kept as an :class:`Outcome` (HTTP status or ``None`` for a transport
error, error codes, latency) and every acknowledged mutation as an :class:`Ack`, which
:mod:`bench.support.verify` checks against the databases afterwards. Used by ``bench.load`` and by
the fault tests of the test suite.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.support.measure import Measurement
from regions.routing import region_of

__all__ = ["Ack", "LoadResult", "LoadTenant", "Outcome", "run_workload"]

FIELDS = "id version lastName workEmail department jobTitle salary"
CREATE = f"mutation($i: EmployeeCreateInput!) {{ createEmployee(input: $i) {{ {FIELDS} }} }}"
UPDATE = (
    "mutation($id: ID!, $v: Int!, $i: EmployeeUpdateInput!) "
    f"{{ updateEmployee(id: $id, expectedVersion: $v, input: $i) {{ {FIELDS} }} }}"
)
GET = f"query($id: ID!) {{ employee(id: $id) {{ {FIELDS} }} }}"
LIST = f"{{ employees(first: 20) {{ nodes {{ {FIELDS} }} pageInfo {{ endCursor }} }} }}"
DEPARTMENTS = ("Engineering", "Sales", "Finance", "People", "Operations")


@dataclass(frozen=True)
class LoadTenant:
    id: str
    token: str
    admin: str = ""  # the first admin's user id

    @property
    def region(self) -> str:
        return region_of(self.id)


@dataclass(frozen=True)
class Ack:
    """A mutation the gateway acknowledged: the version it made and the values sent."""

    tenant: str
    op: str  # "create" or "update"
    record: str
    version: int
    values: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    region: str
    kind: str  # "read" or "write"
    gateway: int
    status: int | None  # None: the connection was cut or refused
    codes: tuple[str, ...]
    at: float  # time.monotonic() when sent
    ms: float

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.codes


@dataclass
class LoadResult:
    outcomes: list[Outcome] = field(default_factory=list)
    acked: list[Ack] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 0

    def measurement(self, name: str, kind: str | None = None) -> Measurement:
        picked = [o.ms for o in self.outcomes if o.ok and kind in (None, o.kind)]
        return Measurement(name, len(picked), self.workers, self.seconds, picked or [0.0])

    def server_errors(self) -> list[Outcome]:
        """Responses with a 5xx status or a cut connection."""
        return [o for o in self.outcomes if o.status is None or o.status >= 500]


def _new_values(rng: random.Random, n: int) -> dict[str, Any]:
    tag = f"{rng.getrandbits(40):010x}"
    return {
        "firstName": f"Load{tag}",
        "lastName": f"Person{tag}",
        "workEmail": f"load.{tag}@example.com",
        "department": rng.choice(DEPARTMENTS),
        "jobTitle": f"Title {n}",
        "salary": rng.randrange(30_000, 150_000),
        "status": "ACTIVE",
    }


def _changed_values(rng: random.Random, n: int) -> dict[str, Any]:
    choices = {
        "salary": rng.randrange(30_000, 150_000),
        "department": rng.choice(DEPARTMENTS),
        "jobTitle": f"Title {n}",
        "lastName": f"Renamed{n}x{rng.getrandbits(24):06x}",
    }
    return {k: choices[k] for k in rng.sample(sorted(choices), k=rng.randint(1, 2))}


@dataclass
class _Worker:
    index: int
    clients: Sequence[httpx.AsyncClient]
    tenants: Sequence[LoadTenant]
    result: LoadResult
    rng: random.Random
    own: dict[str, dict[str, int]] = field(default_factory=dict)  # tenant -> record -> v
    sent: int = 0

    async def step(self) -> None:
        tenant = self.rng.choice(self.tenants)
        mine = self.own.setdefault(tenant.id, {})
        roll, n = self.rng.random(), self.sent
        record = self.rng.choice(sorted(mine)) if mine else None
        if record is None or roll < 0.2:
            values = _new_values(self.rng, n)
            await self._mutate(tenant, "create", CREATE, {"i": values}, None, values)
        elif roll < 0.45:
            values = _changed_values(self.rng, n)
            variables = {"id": record, "v": mine[record], "i": values}
            await self._mutate(tenant, "update", UPDATE, variables, record, values)
        elif roll < 0.6:
            body = await self._post(tenant, "read", GET, {"id": record})
            if body is None or body.get("errors"):
                mine.pop(record, None)
        else:
            await self._post(tenant, "read", LIST, {})

    async def _mutate(
        self,
        tenant: LoadTenant,
        op: str,
        query: str,
        variables: dict[str, Any],
        record: str | None,
        values: dict[str, Any],
    ) -> None:
        mine = self.own[tenant.id]
        body = await self._post(tenant, "write", query, variables)
        if body is None or body.get("errors") or not body.get("data"):
            if record is not None:
                mine.pop(record, None)
            return
        made = body["data"]["createEmployee" if op == "create" else "updateEmployee"]
        ack = Ack(tenant.id, op, str(made["id"]), int(made["version"]), values)
        self.result.acked.append(ack)
        mine[ack.record] = ack.version

    async def _post(
        self, tenant: LoadTenant, kind: str, query: str, variables: dict[str, Any]
    ) -> dict[str, Any] | None:
        gateway = (self.index + self.sent) % len(self.clients)
        self.sent += 1
        started, at = time.perf_counter(), time.monotonic()
        body: dict[str, Any] | None = None
        try:
            response = await self.clients[gateway].post(
                "/graphql",
                json={"query": query, "variables": variables},
                headers={"authorization": f"Bearer {tenant.token}"},
            )
            status: int | None = response.status_code
            body = response.json()
        except (httpx.TransportError, ValueError):
            status = None
        ms = (time.perf_counter() - started) * 1000.0
        errors = (body or {}).get("errors") or ()
        codes = tuple(str(e.get("extensions", {}).get("code")) for e in errors)
        self.result.outcomes.append(Outcome(tenant.region, kind, gateway, status, codes, at, ms))
        return body if status is not None else None


async def run_workload(
    clients: Sequence[httpx.AsyncClient],
    tenants: Sequence[LoadTenant],
    *,
    seconds: float,
    workers: int,
    seed: int,
    budget: int = 1_000_000,
    stop: asyncio.Event | None = None,
    result: LoadResult | None = None,
) -> LoadResult:
    """Run the workload (see the module doc) and return what happened, in *result* if
    given (to watch it while it runs)."""
    result = result or LoadResult()
    result.workers = workers
    deadline = time.monotonic() + seconds
    stop = stop or asyncio.Event()

    async def work(w: _Worker) -> None:
        while not stop.is_set() and time.monotonic() < deadline and len(result.outcomes) < budget:
            await w.step()

    crew = [
        _Worker(i, clients, tenants, result, random.Random(seed * 1_000 + i))
        for i in range(workers)
    ]
    started = time.perf_counter()
    await asyncio.gather(*(work(w) for w in crew))
    result.seconds = time.perf_counter() - started
    return result
