"""Employee data for the benchmarks: realistic values (``employee_values``), the benchmarks'
EU tenant (``bench_tenant``), and many records in one tenant, fast (``seed_records``):
inserted straight in their stored form.

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
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from regions.clients import RegionClient
from regions.routing import database_name
from schema.datasheets import datasheet
from storage.base import TenantStore
from storage.mongo.codec import FieldCodec, encode
from storage.mongo.records import new_record_id
from storage.values import Actor, Value

if TYPE_CHECKING:
    from gateway.services import Services

__all__ = ["JOB_TITLES", "BenchTenant", "bench_tenant", "employee_values", "seed_records"]

FIRST = [
    "Anna",
    "Lukas",
    "Sofia",
    "Jonas",
    "Marie",
    "Matteo",
    "Léa",
    "Noah",
    "Emma",
    "Elias",
    "Chiara",
    "Mateusz",
    "Zoë",
    "Finn",
    "Ingrid",
    "Pablo",
    "Aisha",
    "Henrik",
    "Clara",
    "Tomás",
    "Ewa",
    "Oskar",
    "Nina",
    "Daniel",
    "Freya",
    "Luca",
    "Amélie",
    "Jan",
]
LAST = [
    "Müller",
    "Schmidt",
    "Rossi",
    "Dubois",
    "Kowalski",
    "Jansen",
    "García",
    "Nielsen",
    "Novák",
    "Fischer",
    "Bianchi",
    "Lefèvre",
    "Andersson",
    "Weber",
    "O'Connor",
    "Silva",
    "Horvat",
    "Becker",
    "Martin",
    "Virtanen",
    "Schneider",
    "Costa",
    "Wagner",
    "Hoffmann",
]
#: Job titles by department.
JOB_TITLES = {
    "Engineering": [
        "Software Engineer",
        "Senior Software Engineer",
        "Staff Engineer",
        "Engineering Manager",
        "QA Engineer",
    ],
    "Sales": ["Account Executive", "Sales Development Representative", "Sales Manager"],
    "Finance": ["Accountant", "Financial Controller", "Payroll Specialist"],
    "People": ["HR Business Partner", "Recruiter", "People Operations Lead"],
    "Operations": ["Operations Analyst", "Office Manager", "Logistics Coordinator"],
    "Marketing": ["Content Marketing Manager", "Product Marketing Manager", "Designer"],
}
STREETS = [
    "Hauptstraße",
    "Bahnhofstraße",
    "Lindenallee",
    "Rue de la Paix",
    "Via Roma",
    "Kastanienweg",
    "Keizersgracht",
    "Gartenstraße",
]
CITIES = [
    ("10115", "Berlin"),
    ("80331", "München"),
    ("20095", "Hamburg"),
    ("75002", "Paris"),
    ("00184", "Roma"),
    ("1015 CJ", "Amsterdam"),
    ("50667", "Köln"),
]


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


def employee_values(rng: random.Random, index: int) -> dict[str, Value]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    department = rng.choice(list(JOB_TITLES))
    postcode, city = rng.choice(CITIES)
    born = dt.date(1962, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 40))
    started = dt.date(2009, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 16))
    handle = f"{_ascii(first)}.{_ascii(last)}"
    return {
        "firstName": first,
        "lastName": last,
        "workEmail": f"{handle}{index:02d}@northwind-gmbh.example",
        "personalEmail": f"{handle}{rng.randrange(10, 99)}@mail.example",
        "phone": f"+49 {rng.randrange(151, 179)} {rng.randrange(1_000_000, 9_999_999)}",
        "dateOfBirth": born,
        "nationalId": f"{rng.randrange(10, 99)}{rng.randrange(100000, 999999)}"
        f"{rng.choice('ABCDEFGHJKLMNPRSTUVWXYZ')}{rng.randrange(100, 999)}",
        "address": f"{rng.choice(STREETS)} {rng.randrange(1, 180)}, {postcode} {city}",
        "jobTitle": rng.choice(JOB_TITLES[department]),
        "department": department,
        "salary": rng.randrange(42, 140) * 1000,
        "startDate": started,
        "status": rng.choices(["ACTIVE", "ON_LEAVE", "TERMINATED"], [90, 7, 3])[0],
    }


@dataclass(frozen=True)
class BenchTenant:
    """The benchmarks' EU tenant: its admin, a store handle and a seeded random source."""

    id: str
    admin_id: str
    token: str
    store: TenantStore
    actor: Actor
    rng: random.Random


async def bench_tenant(services: Services) -> BenchTenant:
    info, admin = await services.store.create_tenant(
        "Northwind GmbH", "DE", "admin@northwind-gmbh.example"
    )
    return BenchTenant(
        info.id,
        admin.id,
        services.tokens.issue(info.id, admin.id, ["admin"]),
        services.store.for_tenant(info.id),
        Actor(user_id=admin.id, roles=("admin",)),
        random.Random(20240601),
    )


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
