"""SealStore (checkpoints of the audit chain, receipts, verification) and AccessLogStore."""

from __future__ import annotations

import datetime as dt

from storage.contract.access_log import AccessLogStore
from storage.contract.seals import SealStore
from storage.signing import SealKey
from storage.values import AccessQuery, AuditQuery
from tests.contract.contracts import covers
from tests.contract.data import SHEET, access_event, employee
from tests.contract.tenants import Tenant


@covers(SealStore.seal)
async def test_seal(tenant: Tenant, seal_key: SealKey) -> None:
    seals = tenant.handle.seals
    settled = (await seals.verify(seal_key)).entries  # the first admin's creation
    assert settled >= 1
    assert await seals.seal(seal_key) == settled
    assert await seals.seal(seal_key) == 0
    await tenant.handle.records.create(SHEET, employee(), tenant.actor)
    assert await seals.seal(seal_key) == 1


@covers(SealStore.verify)
async def test_verify(tenant: Tenant, seal_key: SealKey) -> None:
    seals = tenant.handle.seals
    unsealed = await seals.verify(seal_key)
    assert unsealed.ok and unsealed.first_bad is None and unsealed.reason is None
    assert (unsealed.sealed_through, unsealed.unsealed) == (0, unsealed.entries)
    await tenant.handle.records.create(SHEET, employee(), tenant.actor)
    await seals.seal(seal_key)
    head = await seals.head(seal_key)
    assert head is not None
    sealed = await seals.verify(seal_key, [head, *seals.receipts(seal_key)])
    assert sealed.ok and sealed.entries == unsealed.entries + 1
    assert (sealed.sealed_through, sealed.unsealed) == (sealed.entries, 0)


@covers(SealStore.receipts)
async def test_receipts(tenant: Tenant, seal_key: SealKey) -> None:
    seals = tenant.handle.seals
    assert seals.receipts(seal_key) == []
    made = await tenant.handle.records.create(SHEET, employee(), tenant.actor)
    seq = await tenant.handle.audit.record_event("probe", tenant.actor, {})
    receipts = seals.receipts(seal_key)
    assert [r.kind for r in receipts] == ["receipt", "receipt"]
    assert receipts[-1].seq == seq and receipts[0].seq < seq
    assert all(r.key_id == seal_key.id for r in receipts)
    # The stores of one handle share it: the record's write is among them.
    entries, _ = await tenant.handle.audit.page(AuditQuery(record=made.id), first=1)
    assert entries[0].seq == receipts[0].seq


@covers(SealStore.head)
async def test_head(tenant: Tenant, seal_key: SealKey) -> None:
    seals = tenant.handle.seals
    assert await seals.head(seal_key) is None
    sealed = await seals.seal(seal_key)
    head = await seals.head(seal_key)
    assert head is not None and (head.kind, head.seq, head.key_id) == ("head", sealed, seal_key.id)
    seq = await tenant.handle.audit.record_event("probe", tenant.actor, {})
    assert await seals.head(seal_key) == head  # a head moves only when sealing
    await seals.seal(seal_key)
    moved = await seals.head(seal_key)
    assert moved is not None and moved.seq == seq


@covers(AccessLogStore.append, AccessLogStore.page)
async def test_access_log(tenant: Tenant) -> None:
    log, me = tenant.handle.access_log, tenant.admin.id
    assert await log.page(AccessQuery(), first=5) == ([], False)
    await log.append([])
    assert await log.page(AccessQuery(), first=5) == ([], False)
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    await log.append(
        [access_event(me, start + dt.timedelta(seconds=i), records=(f"r{i}",)) for i in range(3)]
    )
    await log.append([access_event("someone-else", start)])
    mine = AccessQuery(principal=me)
    newest, more = await log.page(mine, first=2)
    assert [e.records for e in newest] == [("r2",), ("r1",)] and more
    assert all(e.id is not None and e.datasheet == SHEET.name for e in newest)
    rest, more = await log.page(mine, first=2, after=newest[-1].id)
    assert [e.records for e in rest] == [("r0",)] and not more
    assert [e.principal for e in (await log.page(AccessQuery(record="r1"), first=5))[0]] == [me]
    assert len((await log.page(AccessQuery(), first=10))[0]) == 4
    assert await log.page(AccessQuery(kind="login"), first=5) == ([], False)
