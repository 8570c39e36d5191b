"""Creating a tenant makes every index of its database and of its region's control data,
on the real server, also when several tenants are created at once in both regions."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from gateway.services import Services
from regions.routing import database_name
from storage.mongo.store import MongoStore

Key = tuple[tuple[str, int], ...]

# Written out by hand (the indexes a tenant had before index creation was batched), not
# read from the code that makes them: name -> (key, unique).
TENANT_INDEXES: dict[str, dict[str, tuple[Key, bool]]] = {
    "audit": {
        "claim_1": ((("claim", 1),), True),
        "guard_1": ((("guard", 1),), True),
        "values_1": ((("values", 1),), False),
        "leaseUntil_1": ((("leaseUntil", 1),), False),
    },
    "users": {
        "email_1": ((("email", 1),), True),
        "roles_1": ((("roles", 1),), False),
        "_seq_1": ((("_seq", 1),), False),
    },
    "roles": {"_seq_1": ((("_seq", 1),), False)},
    "principal_blocks": {"_seq_1": ((("_seq", 1),), False)},
    "access_log": {
        "records_1": ((("records", 1),), False),
        "principal_1_at_1": ((("principal", 1), ("at", 1)), False),
        "kind_1": ((("kind", 1),), False),
        "session_1_at_1": ((("session", 1), ("at", 1)), False),
        "at_1": ((("at", 1),), False),
    },
    "incidents": {"state_1": ((("state", 1),), False)},
    "incident_keys": {"key_1_gen_-1": ((("key", 1), ("gen", -1)), False)},
    "signin_failures": {"at_1": ((("at", 1),), False)},
    "totp_steps": {"at_1": ((("at", 1),), False)},
    "session_claims": {"at_1": ((("at", 1),), False)},
    "sessions": {
        "user_1": ((("user", 1),), False),
        "expiresAt_1": ((("expiresAt", 1),), False),
    },
    "employees": {
        f"{field}_1": (((field, 1),), False)
        for field in (
            "_archived",
            "lastName",
            "workEmail",
            "personalEmail",
            "nationalId",
            "jobTitle",
            "department",
            "startDate",
            "status",
        )
    },
    "contacts": {
        f"{field}_1": (((field, 1),), False)
        for field in ("_archived", "lastName", "email", "company", "jobTitle", "kind")
    },
    "applicants": {
        f"{field}_1": (((field, 1),), False)
        for field in ("_archived", "lastName", "email", "position", "stage", "source", "appliedOn")
    },
}

REGION_INDEXES: dict[tuple[str, str], dict[str, tuple[Key, bool]]] = {
    ("encryption", "__keyVault"): {"keyAltNames_1": ((("keyAltNames", 1),), True)},
    ("enclave_control", "tenants"): {
        "status_1": ((("status", 1),), False),
        "purgeDueAt_1": ((("purgeDueAt", 1),), False),
    },
    ("enclave_control", "pending_work"): {
        "work_1_tenant_1": ((("work", 1), ("tenant", 1)), False),
    },
}


async def _indexes(collection: AsyncCollection[dict[str, Any]]) -> dict[str, tuple[Key, bool]]:
    found = await collection.index_information()
    return {
        name: (tuple((field, int(order)) for field, order in spec["key"]), bool(spec.get("unique")))
        for name, spec in found.items()
        if name != "_id_"
    }


async def test_a_new_tenant_has_every_index(services: Services) -> None:
    store = MongoStore.of(services.store)
    made = await asyncio.gather(
        *(
            store.create_tenant(f"Indexed {n}", country, f"admin-{n}@indexes.example")
            for n, country in enumerate(("DE", "US", "FR", "US", "IE"))
        )
    )
    for info, _ in made:
        region = store.registry[info.region]
        db = region.plain[database_name(info.id)]
        for collection, expected in TENANT_INDEXES.items():
            assert await _indexes(db[collection]) == expected, (info.region, collection)
    for name in ("eu", "us"):
        client = store.registry[name].plain
        for (db_name, collection), expected in REGION_INDEXES.items():
            found = await _indexes(client[db_name][collection])
            assert expected.items() <= found.items(), (name, db_name, collection)
