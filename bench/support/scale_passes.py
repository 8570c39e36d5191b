"""Parts of ``bench.scale``'s tenants half: the background passes with a few active tenants
among many, and the raw driver's key-vault reads a cold tenant's first request makes (the
floors that say how much of a first touch is the local server's)."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

from bson.binary import Binary

from bench.support.measure import Measurement
from bench.support.workload import LoadTenant
from gateway.services import Services
from regions.clients import KEY_VAULT_NAMESPACE
from schema.datasheets import datasheet
from storage.mongo.control import CONTROL_DB, TENANTS
from storage.mongo.pending import PENDING
from storage.mongo.store import MongoStore
from storage.values import Actor

__all__ = ["FLOOR", "LIST", "active_passes", "control_floor", "vault_floors"]

FLOOR = "floor: control record, raw driver find_one"
#: The request timed over many tenants: a 20-record list page.
LIST = "{ employees(first: 20) { nodes { id lastName workEmail department } } }"


async def active_passes(
    services: Services, tenants: Sequence[LoadTenant], active: int
) -> dict[str, float]:
    """Drop every pending-work mark (what passes over the creation's audit entries would
    end with), write one employee to each of *active* tenants, then time one reconciler pass
    and one sealer pass (they visit the marked tenants), and the seconds the marks took to
    drop (not a gateway path: a shortcut of the benchmark's)."""
    registry = MongoStore.of(services.store).registry
    started = time.perf_counter()
    for name in registry:
        await registry[name].plain["enclave_control"][PENDING].delete_many({})
    dropped = time.perf_counter() - started
    sheet = datasheet("employees")
    for tenant in random.Random(11).sample(list(tenants), active):
        actor = Actor(user_id=tenant.admin, roles=("admin",))
        values = {"firstName": "Active", "lastName": "Tenant", "workEmail": "a@t.example"}
        await services.store.for_tenant(tenant.id).records.create(sheet, values, actor)
    marked = {name: len(await services.store.pending_tenants(name, "seal")) for name in registry}
    started = time.perf_counter()
    await services.reconcile_all()
    reconcile = time.perf_counter() - started
    started = time.perf_counter()
    await services.seal_all()
    seal = time.perf_counter() - started
    return {
        "marks_dropped_seconds": dropped,
        "marked_tenants": float(sum(marked.values())),
        "reconcile_seconds": reconcile,
        "seal_seconds": seal,
    }


async def control_floor(services: Services, picked: Sequence[LoadTenant]) -> Measurement:
    """The floor of a first touch: the raw driver's ``find_one`` of a tenant's control
    record (the one read a first request cannot do without), in this process."""
    registry = MongoStore.of(services.store).registry
    started, latencies = time.perf_counter(), []
    for tenant in picked:
        control = registry.for_tenant(tenant.id).plain[CONTROL_DB][TENANTS]
        begun = time.perf_counter()
        await control.find_one({"_id": tenant.id})
        latencies.append((time.perf_counter() - begun) * 1000.0)
    return Measurement(FLOOR, len(picked), 1, time.perf_counter() - started, latencies)


async def vault_floors(services: Services, picked: Sequence[LoadTenant]) -> list[Measurement]:
    """The raw driver's key-vault reads of a cold tenant, in this process: by key alt name
    (the gateway's key id lookup before it read the id from the control record),
    libmongocrypt's key filter by ``_id`` (what it asks for), and by ``_id`` equality (what
    the gateway and its key fetch, ``regions.keyfetch``, send instead)."""
    registry = MongoStore.of(services.store).registry
    vault_db, vault_coll = KEY_VAULT_NAMESPACE.split(".", 1)
    by_name: list[float] = []
    by_id: list[float] = []
    equal: list[float] = []
    started = time.perf_counter()
    for tenant in picked:
        vault = registry.for_tenant(tenant.id).plain[vault_db][vault_coll]
        begun = time.perf_counter()
        doc: dict[str, Any] | None = await vault.find_one({"keyAltNames": tenant.id}, {"_id": 1})
        by_name.append((time.perf_counter() - begun) * 1000.0)
        assert doc is not None
        key = Binary.from_uuid(doc["_id"]) if not isinstance(doc["_id"], Binary) else doc["_id"]
        query = {"$or": [{"_id": {"$in": [key]}}, {"keyAltNames": {"$in": []}}]}
        begun = time.perf_counter()
        found = await vault.find(query).to_list()
        by_id.append((time.perf_counter() - begun) * 1000.0)
        assert len(found) == 1
        begun = time.perf_counter()
        assert await vault.find_one({"_id": key}) is not None
        equal.append((time.perf_counter() - begun) * 1000.0)
    seconds = time.perf_counter() - started
    return [
        Measurement("raw: key vault by alt name", len(picked), 1, seconds / 3, by_name),
        Measurement("raw: libmongocrypt's key filter", len(picked), 1, seconds / 3, by_id),
        Measurement("raw: key vault by _id", len(picked), 1, seconds / 3, equal),
    ]
