"""GraphQL types of the audit log: entries, access events, and verification.

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import datetime as dt

import strawberry
from strawberry.scalars import JSON

from schema.types import PageInfo

__all__ = [
    "AccessConnection",
    "AccessEventType",
    "AuditConnection",
    "AuditEntryType",
    "AuditFilter",
    "AuditHeadInput",
    "AuditVerification",
    "FieldChange",
]


@strawberry.type
class FieldChange:
    field: str
    before: JSON | None
    after: JSON | None


@strawberry.type
class AuditEntryType:
    sequence: int
    at: dt.datetime
    actor_kind: str
    actor_id: str
    actor_roles: list[str]
    request_id: str | None
    ip: str | None = strawberry.field(description="Admins only.")
    user_agent: str | None = strawberry.field(description="Admins only.")
    operation: str
    datasheet: str | None
    record: strawberry.ID | None
    version: int | None
    fields: list[str]
    outcome: str | None
    code: str | None
    redacted: bool
    changes: list[FieldChange] = strawberry.field(
        description="Before and after values of the fields you may read; empty if redacted."
    )


@strawberry.type
class AuditConnection:
    nodes: list[AuditEntryType]
    page_info: PageInfo


@strawberry.input
class AuditFilter:
    actor: strawberry.ID | None = None
    datasheet: str | None = None
    record: strawberry.ID | None = None
    operation: str | None = None
    outcome: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


@strawberry.type
class AccessEventType:
    at: dt.datetime
    kind: str
    principal: strawberry.ID
    roles: list[str]
    datasheet: str | None
    fields: list[str]
    records: list[strawberry.ID]
    purpose: str | None
    request_id: str | None
    ip: str | None
    user_agent: str | None


@strawberry.type
class AccessConnection:
    nodes: list[AccessEventType]
    page_info: PageInfo


@strawberry.type
class AuditVerification:
    ok: bool
    entries: int
    sealed_through: int
    unsealed: int
    first_bad_sequence: int | None
    reason: str | None


@strawberry.input(
    description="A signed audit head (`enclave audit heads`) or receipt (a mutation's "
    "`extensions.audit`): give `head` or `mac`."
)
class AuditHeadInput:
    database: str
    seq: int
    key_id: str
    signature: str
    head: str | None = None
    mac: str | None = None
