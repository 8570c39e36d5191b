"""Lifecycle benchmark: purge and master-key rotation against raw-driver floors, in one run.

Run as ``uv run python -m bench.lifecycle [--tenants N] [--records R] [--json PATH]``.

It starts its own FerretDB (EU only) in a temporary folder, creates N EU tenants with R
audited employee records each, and then times, in this process:

- ``purge``: ``TenantLifecycle.purge`` of each tenant (claim with counts, key deletion,
  database drop, certificate: the recorded steps) against ``floor: drop``, dropping a
  database of the same size (the records copied raw into ``floor_<i>``) and deleting one
  key-vault document, with no steps recorded;
- ``rotate``: ``MasterKeys.rotate`` of every EU data key to ``local:key2`` (libmongocrypt
  unwraps and rewraps each key, one bulk write) against ``floor: rewrite``, reading every
  key-vault document and writing each back with the same ``$set`` into a copy of the key
  vault, with no cryptography.

The floors run right before their path, on the same server and the same data sizes. All
load goes to 127.0.0.1 and is bounded; the server is stopped by its PID at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pymongo import UpdateOne

from bench.support.measure import run_benchmark
from bench.support.stack import make_settings
from gateway.dev.servers import LocalStack
from gateway.settings import Settings
from regions.catalog import write_local_master_key
from regions.clients import KEY_VAULT_NAMESPACE, RegionRegistry
from schema.datasheets import datasheet
from storage.auditmac import EntryAuthenticator
from storage.mongo import MongoStore
from storage.mongo.lifecycle import SETTLE
from storage.values import OPERATOR, Actor


async def _seed(store: MongoStore, tenants: int, records: int) -> list[str]:
    ids = []
    sheet = datasheet("employees")
    for i in range(tenants):
        info, admin = await store.create_tenant(f"Bench {i}", "DE", f"a{i}@example.com")
        tenant = store.for_tenant(info.id)
        actor = Actor(admin.id, ("admin",))
        for n in range(records):
            values = {"firstName": f"F{n}", "lastName": f"L{n}", "workEmail": f"w{n}@x.example"}
            await tenant.records.create(sheet, {**values, "status": "ACTIVE"}, actor)
        ids.append(info.id)
    return ids


async def measure(args: argparse.Namespace, settings: Settings, root: Path) -> dict[str, float]:
    key2 = root / "keys" / "eu-master-key2.key"
    write_local_master_key(key2)
    eu = settings.eu.model_copy(update={"local_master_key_files": {"key2": key2}})
    regions = RegionRegistry.from_configs({"eu": eu})
    store = MongoStore(regions, EntryAuthenticator(os.urandom(32)))
    plain = regions["eu"].plain
    vault_db, vault_coll = KEY_VAULT_NAMESPACE.split(".", 1)
    try:
        ids = await _seed(store, args.tenants, args.records)
        print(f"{len(ids)} tenants seeded; measuring", file=sys.stderr, flush=True)
        keys = await plain[vault_db][vault_coll].find().to_list()
        copy = plain["bench_floor"]["vault"]
        await copy.insert_many(keys)
        start = time.perf_counter()
        docs = await copy.find().to_list()
        await copy.bulk_write(
            [UpdateOne({"_id": d["_id"]}, {"$set": {"masterKey": d["masterKey"]}}) for d in docs]
        )
        floor_rotate = time.perf_counter() - start
        start = time.perf_counter()
        report = await store.keys.rotate("eu", "local:key2")
        rotate = time.perf_counter() - start
        assert report.rewrapped == len(keys)

        lifecycle = store.lifecycle()
        for tenant_id in ids:
            await lifecycle.terminate(tenant_id, OPERATOR, retention_days=0)
        await asyncio.sleep(SETTLE.total_seconds())
        floor_purge = purge = 0.0
        for i, tenant_id in enumerate(ids):
            source = plain[f"tenant_{tenant_id}"]
            floor_db = plain[f"floor_{i}"]
            for name in await source.list_collection_names():
                if found := await source[name].find().to_list():
                    await floor_db[name].insert_many(found)
            await copy.insert_one({"_id": f"floor-{i}", "keyAltNames": [f"floor-{i}"]})
            start = time.perf_counter()
            await copy.delete_many({"keyAltNames": f"floor-{i}"})
            await plain.drop_database(f"floor_{i}")
            floor_purge += time.perf_counter() - start
            start = time.perf_counter()
            await lifecycle.purge(tenant_id, OPERATOR)
            purge += time.perf_counter() - start
        await plain.drop_database("bench_floor")
    finally:
        await regions.aclose()
    return {
        "keys": float(len(keys)),
        "rotate_s": rotate,
        "floor_rotate_s": floor_rotate,
        "purge_s": purge / len(ids),
        "floor_purge_s": floor_purge / len(ids),
    }


def report(command: str, machine: dict[str, Any], args: Any, r: dict[str, float]) -> dict[str, Any]:
    ratios = {
        "rotate / floor": r["rotate_s"] / r["floor_rotate_s"],
        "purge / floor": r["purge_s"] / r["floor_purge_s"],
    }
    print(f"\n{command}\n{machine.get('cpu', '')}")
    print(
        f"rotate {int(r['keys'])} data keys: {r['rotate_s'] * 1000:.1f} ms "
        f"(floor {r['floor_rotate_s'] * 1000:.1f} ms) -> {ratios['rotate / floor']:.2f}x"
    )
    print(
        f"purge one tenant ({args.records} records): {r['purge_s'] * 1000:.1f} ms "
        f"(floor {r['floor_purge_s'] * 1000:.1f} ms) -> {ratios['purge / floor']:.2f}x"
    )
    return {"command": command, "machine": machine, "results": r, "ratios": ratios}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.lifecycle")
    parser.add_argument("--tenants", type=int, default=10, help="EU tenants to create")
    parser.add_argument("--records", type=int, default=50, help="employees per tenant")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    if not 1 <= args.tenants <= 200 or not 0 <= args.records <= 5_000:
        parser.error("--tenants is 1 to 200, --records 0 to 5000")
    return args


def run(args: argparse.Namespace, root: Path, cleanup: contextlib.ExitStack) -> dict[str, float]:
    stack = LocalStack.create(root)
    print(f"starting FerretDB (EU :{stack.eu.port}) under {root}", file=sys.stderr, flush=True)
    cleanup.callback(stack.eu.stop)
    stack.eu.start()
    settings = make_settings(root, stack)
    return asyncio.run(measure(args, settings, root))


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark("bench.lifecycle", argv, parse_args, run, report)


if __name__ == "__main__":
    raise SystemExit(main())
