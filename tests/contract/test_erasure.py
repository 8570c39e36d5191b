"""SubjectErasure (one person, everywhere in the tenant) and Termination (by its admins)."""

from __future__ import annotations

import datetime as dt

import pytest

from schema.errors import ConflictError
from storage.base import Store
from storage.contract.erasure import SubjectErasure
from storage.contract.termination import Termination
from storage.signing import SealKey
from storage.values import DEFAULT_RETENTION_DAYS, OPERATOR, AuditQuery
from tests.contract.contracts import covers
from tests.contract.data import SHEET, employee, export_job, unique_email
from tests.contract.tenants import Tenant

FIELDS = ["lastName"]


@covers(SubjectErasure.erase)
async def test_erase_nobody(tenant: Tenant) -> None:
    email = unique_email("nobody")
    report = await tenant.handle.erasure.erase(email, tenant.actor)
    assert (dict(report.records), report.audit_entries_redacted) == ({}, 0)
    entries, _ = await tenant.handle.audit.page(AuditQuery(), first=1, with_values=True)
    assert (entries[0].seq, entries[0].op) == (report.audit_entry, "erase")
    assert email not in repr(entries[0])


@covers(SubjectErasure.erase)
async def test_erase_subject(tenant: Tenant, seal_key: SealKey) -> None:
    handle, actor = tenant.handle, tenant.actor
    email = unique_email("subject")
    work = await handle.records.create(SHEET, employee(workEmail=email), actor)
    private = await handle.records.create(SHEET, employee(personalEmail=email), actor)
    await handle.records.set_archived(SHEET, private.id, 1, True, actor)
    bystander = await handle.records.create(SHEET, employee(), actor)
    job = export_job(tenant.admin.id, {"workEmail": email})
    await handle.exports.create(job, actor)
    report = await handle.erasure.erase(email, actor)
    assert dict(report.records) == {SHEET.name: sorted([work.id, private.id])}
    assert report.audit_entries_redacted >= 4  # two creations, the archiving, the export
    assert await handle.records.get(SHEET, work.id, FIELDS) is None
    assert await handle.records.get(SHEET, private.id, FIELDS) is None
    assert await handle.records.get(SHEET, bystander.id, FIELDS) is not None
    assert await handle.exports.get(job.id) is None  # forgotten: it was filtered by the email
    about, _ = await handle.audit.page(AuditQuery(record=work.id), first=5, with_values=True)
    assert about and all(e.redacted and e.after is None for e in about)
    entries, _ = await handle.audit.page(AuditQuery(), first=1, with_values=True)
    assert entries[0].seq == report.audit_entry and email not in repr(entries[0])
    assert (await handle.seals.verify(seal_key)).ok
    again = await handle.erasure.erase(email, actor)
    assert dict(again.records) == {}


@covers(Termination.request)
async def test_request_termination(store: Store, tenant: Tenant) -> None:
    ended = await tenant.handle.termination.request(tenant.actor)
    assert (ended.id, ended.status) == (tenant.info.id, "terminated")
    assert ended.terminated_at is not None and ended.purge_due_at is not None
    assert ended.purge_due_at - ended.terminated_at == dt.timedelta(days=DEFAULT_RETENTION_DAYS)
    stored = await store.get_tenant(tenant.info.id)
    assert stored is not None and stored.status == "terminated"
    assert (await store.lifecycle().history(tenant.info.id))[-1]["to"] == "terminated"
    entries, _ = await tenant.handle.audit.page(AuditQuery(), first=1)
    assert tenant.admin.id in entries[0].actor.values()  # audited as the admin's
    with pytest.raises(ConflictError):
        await tenant.handle.termination.request(tenant.actor)


async def test_request_termination_only_while_active(store: Store, tenant: Tenant) -> None:
    await store.lifecycle().suspend(tenant.info.id, OPERATOR)
    with pytest.raises(ConflictError):
        await tenant.handle.termination.request(tenant.actor)
