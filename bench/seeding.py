"""Many employee records in one tenant, fast: inserted straight in their stored form.

Going through the audited write path costs a few round trips per record, far too many for
100,000 records in a benchmark run; the read path never looks at the audit log, so the
records are inserted directly, batch by batch, exactly as the write path stores them
(``_id`` a ULID, sensitive fields encrypted under the tenant's data key, the record meta
fields). To keep seeding bounded, each distinct value is encrypted once and its
ciphertext reused (a randomized ciphertext decrypts the same wherever it is stored).
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from bench.read_path import employee_values
from regions.clients import RegionClient
from regions.routing import database_name
from schema.datasheets import datasheet
from storage.mongo.codec import FieldCodec, encode
from storage.mongo.records import new_record_id

__all__ = ["seed_records"]

#: The fields seeded; the rest of an employee stays empty.
SEEDED = ("firstName", "lastName", "workEmail", "jobTitle", "department", "status", "salary")
#: Distinct e-mail addresses (each record gets one of them).
EMAILS = 2_000


async def seed_records(
    region: RegionClient, tenant_id: str, owner: str, count: int, batch: int = 2_000
) -> list[str]:
    """Insert *count* employees into *tenant_id*'s database; their ids in order."""
    sheet = datasheet("employees")
    codec = FieldCodec(region.encryption, tenant_id)
    collection = region.data[database_name(tenant_id)][sheet.name]
    rng = random.Random(count)
    pool = [employee_values(rng, i % 100) for i in range(EMAILS)]
    cipher: dict[tuple[str, Any], Any] = {}

    async def stored(name: str, value: Any) -> Any:
        field = sheet.by_name[name]
        plain = encode(field, value)
        key = (name, plain)
        if key not in cipher:
            cipher[key] = await codec.encrypt(field, plain)
        return cipher[key]

    ids: list[str] = []
    at = dt.datetime.now(dt.UTC)
    for start in range(0, count, batch):
        docs = []
        for _ in range(min(batch, count - start)):
            values = rng.choice(pool)
            record = new_record_id()
            fields = {name: await stored(name, values[name]) for name in SEEDED}
            meta = {"_v": 1, "_archived": False, "_owner": owner, "_created": at, "_updated": at}
            docs.append({"_id": record, **fields, **meta})
            ids.append(record)
        await collection.insert_many(docs, ordered=False)
    return sorted(ids)
