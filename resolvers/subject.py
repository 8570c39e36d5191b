"""Subject access: everything a tenant holds about one person, as one JSON document.

An admin names the person by email; every record of every datasheet whose email fields
(deterministically encrypted, so searchable by equality) hold that address is included,
archived ones too, with every field, and the audit history of each of those records with
its values. Producing it is audited (the email kept encrypted in the entry's values) and
recorded in the access log as an export.

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import datetime as dt
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from resolvers.authz.guards import admin_context
from resolvers.values import email_address
from schema.datasheets import DATASHEETS, FieldType
from storage.base import TenantStore
from storage.values import AuditEntry, AuditQuery, Record

__all__ = ["SubjectAccessMutation"]

_AUDIT_PAGE = 200


def _json(value: object) -> object:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


def _record(record: Record) -> dict[str, Any]:
    return {
        "id": record.id,
        "version": record.version,
        "archived": record.archived,
        "createdAt": record.created_at.isoformat(),
        "updatedAt": record.updated_at.isoformat(),
        **{k: _json(v) for k, v in record.values.items()},
    }


def _entry(e: AuditEntry) -> dict[str, Any]:
    return {
        "sequence": e.seq,
        "at": e.at.isoformat(),
        "operation": e.operation or e.op,
        "actor": {"kind": e.actor.get("kind"), "id": e.actor.get("id")},
        "version": e.version,
        "fields": list(e.fields),
        "outcome": e.outcome,
        "redacted": e.redacted,
        "before": _json(e.before),
        "after": _json(e.after),
    }


async def _history(store: TenantStore, record_id: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    after: int | None = None
    while True:
        page, more = await store.audit.page(
            AuditQuery(record=record_id), first=_AUDIT_PAGE, after=after, with_values=True
        )
        entries.extend(_entry(e) for e in page)
        if not more or not page:
            return entries[::-1]  # oldest first
        after = page[-1].seq


@strawberry.type
class SubjectAccessMutation:
    @strawberry.mutation(
        description="Everything about one person (matched by email) across all datasheets, "
        "with the audit history of those records, as one JSON document (admins only)."
    )
    async def subject_access(self, info: Info, email: str) -> JSON:
        ctx = admin_context(info, "answer subject access requests")
        address = email_address(email)
        sheets: dict[str, list[dict[str, Any]]] = {}
        found: dict[str, list[str]] = {}
        for sheet in DATASHEETS.values():
            every = [f.name for f in sheet.fields]
            records: dict[str, dict[str, Any]] = {}
            for field in sheet.fields:
                if field.type is not FieldType.EMAIL or not field.filterable:
                    continue
                async for r in ctx.store.records.stream(
                    sheet, every, equals={field.name: address}, include_archived=True
                ):
                    records.setdefault(r.id, _record(r))
            for record_id, record in records.items():
                record["history"] = await _history(ctx.store, record_id)
            sheets[sheet.name] = list(records.values())
            found[sheet.name] = sorted(records)
            if records:
                ctx.access.export(sheet.name, every, sorted(records))
        await ctx.store.audit.record_event(
            "subject_access",
            ctx.actor,
            detail={"records": found},
            values={"email": address},
        )
        document = JSON(
            {
                "subject": {"email": address},
                "generatedAt": dt.datetime.now(dt.UTC).isoformat(),
                "datasheets": sheets,
            }
        )
        return document
