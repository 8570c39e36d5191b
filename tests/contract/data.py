"""Values the contract tests write: valid for the datasheets and the other contracts."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import AsyncIterator, Mapping

from schema.datasheets import EMPLOYEES
from storage.base import TenantStore
from storage.values import AccessEvent, Actor, AuditQuery, ExportJob, Record, User, Value

__all__ = [
    "PASSWORD_HASH",
    "SHEET",
    "TOTP_SECRET",
    "access_event",
    "actor_of",
    "digest",
    "drain",
    "employee",
    "entries",
    "export_job",
    "unique_email",
]

SHEET = EMPLOYEES
PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
TOTP_SECRET = "JBSWY3DPEHPK3PXP"


def actor_of(user: User) -> Actor:
    """*user* as a change by them is audited."""
    return Actor(user.id, roles=user.roles)


def unique_email(who: str = "person") -> str:
    return f"{who}-{uuid.uuid4().hex[:10]}@example.com"


def employee(last_name: str = "Doe", **values: Value) -> dict[str, Value]:
    """An employee with every required field (and *values*)."""
    return {
        "firstName": "Jane",
        "lastName": last_name,
        "workEmail": unique_email("work"),
        "status": "ACTIVE",
        **values,
    }


def export_job(principal: str, equals: Mapping[str, Value] | None = None) -> ExportJob:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return ExportJob(
        id=uuid.uuid4().hex,
        principal_kind="user",
        principal_id=principal,
        datasheet=SHEET.name,
        format="ndjson",
        fields=("firstName", "lastName"),
        equals=dict(equals or {}),
        include_archived=False,
        after=None,
        created_at=now,
        expires_at=now + dt.timedelta(minutes=5),
    )


def access_event(
    principal: str, at: dt.datetime | None = None, records: tuple[str, ...] = ()
) -> AccessEvent:
    """A read of *records*' last names by *principal*."""
    moment = at or dt.datetime.now(dt.UTC).replace(microsecond=0)
    return AccessEvent(
        moment, "read", principal, datasheet=SHEET.name, fields=("lastName",), records=records
    )


def digest(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


async def entries(handle: TenantStore) -> int:
    """How many entries the tenant's audit log holds."""
    found, _ = await handle.audit.page(AuditQuery(), first=1000)
    return len(found)


async def drain(items: AsyncIterator[Record]) -> list[Record]:
    """Every record of a stream."""
    return [item async for item in items]
