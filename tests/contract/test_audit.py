"""AuditStore: events and refused attempts written, pages newest first, redaction, settling.

A fresh tenant's log holds the creation of its first admin, so the empty case of a page is
a query no entry matches."""

from __future__ import annotations

import datetime as dt

from storage.contract.audit import AuditStore
from storage.signing import SealKey
from storage.values import AuditQuery
from tests.contract.contracts import covers
from tests.contract.data import SHEET, employee
from tests.contract.tenants import Tenant

EVERYTHING = AuditQuery()


@covers(AuditStore.record_event)
async def test_record_event(tenant: Tenant) -> None:
    audit = tenant.handle.audit
    first = await audit.record_event("probe", tenant.actor, {"job": "j1", "rows": 3})
    second = await audit.record_event(
        "probe", tenant.actor, {"job": "j2"}, values={"filter": {"lastName": "Ames"}}
    )
    assert second == first + 1
    entries, _ = await audit.page(EVERYTHING, first=2, with_values=True)
    assert [(e.seq, e.op, e.outcome) for e in entries] == [
        (second, "probe", "committed"),
        (first, "probe", "committed"),
    ]
    assert entries[0].after == {"filter": {"lastName": "Ames"}}
    assert tenant.admin.id in entries[0].actor.values()


@covers(AuditStore.record_attempt)
async def test_record_attempt(tenant: Tenant) -> None:
    audit = tenant.handle.audit
    await audit.record_attempt(
        "updateEmployee", tenant.actor, "FORBIDDEN", datasheet=SHEET.name, fields=["salary"]
    )
    entries, more = await audit.page(AuditQuery(outcome="refused"), first=5, with_values=True)
    assert not more and len(entries) == 1
    (entry,) = entries
    assert (entry.operation, entry.code, entry.datasheet, list(entry.fields)) == (
        "updateEmployee",
        "FORBIDDEN",
        SHEET.name,
        ["salary"],
    )
    assert entry.before is None and entry.after is None  # field names only, never values


@covers(AuditStore.page)
async def test_page(tenant: Tenant) -> None:
    audit = tenant.handle.audit
    assert await audit.page(AuditQuery(datasheet=SHEET.name), first=5) == ([], False)
    made = [await tenant.handle.records.create(SHEET, employee(), tenant.actor) for _ in "abc"]
    about = AuditQuery(datasheet=SHEET.name)
    newest, more = await audit.page(about, first=2)
    assert [e.record for e in newest] == [made[2].id, made[1].id] and more
    assert newest[0].seq > newest[1].seq
    rest, more = await audit.page(about, first=2, after=newest[-1].seq)
    assert [e.record for e in rest] == [made[0].id] and not more
    assert all(e.after is None for e in [*newest, *rest])  # values only when asked for
    (with_values,), _ = await audit.page(AuditQuery(record=made[0].id), first=1, with_values=True)
    assert with_values.after is not None and with_values.after["lastName"] == "Doe"
    late = AuditQuery(since=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    assert await audit.page(late, first=5) == ([], False)


@covers(AuditStore.redact)
async def test_redact(tenant: Tenant, seal_key: SealKey) -> None:
    audit, records = tenant.handle.audit, tenant.handle.records
    before, _ = await audit.page(EVERYTHING, first=100)
    assert await audit.redact(["no-such-record"], tenant.actor) == 0
    assert (await audit.page(EVERYTHING, first=100))[0] == before  # and no entry
    ames = await records.create(SHEET, employee("Ames"), tenant.actor)
    await records.update(SHEET, ames.id, 1, {"lastName": "Abel"}, tenant.actor)
    assert await audit.redact([ames.id], tenant.actor) == 2
    about, _ = await audit.page(AuditQuery(record=ames.id), first=5, with_values=True)
    assert len(about) == 2 and all(e.redacted and e.after is None for e in about)
    latest, _ = await audit.page(EVERYTHING, first=1)
    assert latest[0].op == "redact"
    assert (await tenant.handle.seals.verify(seal_key)).ok


@covers(AuditStore.reconcile, AuditStore.pending_intents)
async def test_reconcile_and_pending_intents(tenant: Tenant) -> None:
    # Intents a crash left are made by tests/test_crash_consistency.py; through the contract
    # every write settles its intent, so there is nothing to settle before or after writes.
    audit = tenant.handle.audit
    assert await audit.pending_intents() == 0
    assert await audit.reconcile(older_than=dt.timedelta(0)) == 0
    await tenant.handle.records.create(SHEET, employee(), tenant.actor)
    await audit.record_event("probe", tenant.actor, {})
    assert await audit.pending_intents() == 0
    assert await audit.reconcile(older_than=dt.timedelta(0)) == 0
