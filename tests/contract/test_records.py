"""RecordStore: reads within a scope, keyset pages in id order, versioned audited writes."""

from __future__ import annotations

import pytest
from ulid import ULID

from schema.errors import BadUserInputError, ConflictError, ForbiddenError, NotFoundError
from schema.roles import RowFilter
from storage.contract.records import RecordStore
from storage.values import AuditQuery, Record, RowScope
from tests.contract.contracts import covers
from tests.contract.data import SHEET, drain, employee
from tests.contract.tenants import Tenant

FIELDS = ["lastName", "department"]


def sales_only(caller: str) -> RowScope:
    return RowScope(rows=(RowFilter(equals={"department": "Sales"}),), caller=caller)


async def three(tenant: Tenant) -> list[Record]:
    """Three employees (Sales, Sales, Ops), in id order."""
    records = tenant.handle.records
    return [
        await records.create(SHEET, employee(last, department=dep), tenant.actor)
        for last, dep in (("Ames", "Sales"), ("Bell", "Sales"), ("Cole", "Ops"))
    ]


@covers(RecordStore.get)
async def test_get(tenant: Tenant) -> None:
    records = tenant.handle.records
    assert await records.get(SHEET, str(ULID()), FIELDS) is None
    ames, _, cole = await three(tenant)
    got = await records.get(SHEET, ames.id, ["lastName"])
    assert got is not None
    assert (got.id, got.version, got.archived, dict(got.values)) == (
        ames.id,
        1,
        False,
        {"lastName": "Ames"},
    )
    assert await records.get(SHEET, cole.id, FIELDS, scope=sales_only(tenant.admin.id)) is None
    await records.set_archived(SHEET, ames.id, 1, True, tenant.actor)
    archived = await records.get(SHEET, ames.id, FIELDS)
    assert archived is not None and archived.archived and archived.version == 2


@covers(RecordStore.page)
async def test_page(tenant: Tenant) -> None:
    records = tenant.handle.records
    empty = await records.page(SHEET, FIELDS, first=5)
    assert (list(empty.records), list(empty.cursors), empty.has_next_page, empty.end_cursor) == (
        [],
        [],
        False,
        None,
    )
    made = await three(tenant)
    first = await records.page(SHEET, FIELDS, first=2)
    assert [r.id for r in first.records] == [r.id for r in made[:2]]
    assert len(first.cursors) == 2 and first.has_next_page and first.end_cursor == first.cursors[-1]
    rest = await records.page(SHEET, FIELDS, first=2, after=first.end_cursor)
    assert [r.id for r in rest.records] == [made[2].id] and not rest.has_next_page
    assert [r.values["lastName"] for r in rest.records] == ["Cole"]
    sales = await records.page(SHEET, FIELDS, first=5, scope=sales_only(tenant.admin.id))
    assert [r.values["department"] for r in sales.records] == ["Sales", "Sales"]
    bell = await records.page(SHEET, FIELDS, first=5, equals={"lastName": "Bell"})
    assert [r.id for r in bell.records] == [made[1].id]
    await records.set_archived(SHEET, made[0].id, 1, True, tenant.actor)
    assert [r.id for r in (await records.page(SHEET, FIELDS, first=5)).records] == [
        r.id for r in made[1:]
    ]
    everything = await records.page(SHEET, FIELDS, first=5, include_archived=True)
    assert [r.id for r in everything.records] == [r.id for r in made]


async def test_page_refuses_a_malformed_cursor_and_an_unfilterable_field(tenant: Tenant) -> None:
    records = tenant.handle.records
    with pytest.raises(BadUserInputError) as bad_cursor:
        await records.page(SHEET, FIELDS, first=5, after="not a cursor")
    assert bad_cursor.value.extensions.get("argument") == "after"
    with pytest.raises(BadUserInputError):  # firstName is encrypted at random
        await records.page(SHEET, FIELDS, first=5, equals={"firstName": "Jane"})


@covers(RecordStore.stream)
async def test_stream(tenant: Tenant) -> None:
    records = tenant.handle.records
    assert await drain(records.stream(SHEET, FIELDS)) == []
    made = await three(tenant)
    streamed = await drain(records.stream(SHEET, FIELDS, batch_size=1))
    assert [r.id for r in streamed] == [r.id for r in made]
    after = await drain(records.stream(SHEET, FIELDS, after=made[0].id))
    assert [r.id for r in after] == [r.id for r in made[1:]]
    ops = await drain(records.stream(SHEET, FIELDS, equals={"department": "Ops"}))
    assert [dict(r.values) for r in ops] == [{"lastName": "Cole", "department": "Ops"}]
    with pytest.raises(BadUserInputError):
        await drain(records.stream(SHEET, FIELDS, equals={"firstName": "Jane"}))


@covers(RecordStore.count)
async def test_count(tenant: Tenant) -> None:
    records = tenant.handle.records
    assert await records.count(SHEET) == 0
    ames, *_ = await three(tenant)
    assert await records.count(SHEET) == 3
    assert await records.count(SHEET, after=ames.id) == 2
    assert await records.count(SHEET, scope=sales_only(tenant.admin.id)) == 2
    await records.set_archived(SHEET, ames.id, 1, True, tenant.actor)
    assert await records.count(SHEET) == 2
    assert await records.count(SHEET, include_archived=True) == 3


@covers(RecordStore.create)
async def test_create(tenant: Tenant) -> None:
    records = tenant.handle.records
    made = await records.create(SHEET, employee("Ames", department="Sales"), tenant.actor)
    assert (made.version, made.archived, made.owner) == (1, False, tenant.admin.id)
    assert set(made.values) == set(SHEET.by_name)
    assert made.values["lastName"] == "Ames" and made.values["salary"] is None
    entries, _ = await tenant.handle.audit.page(AuditQuery(record=made.id), first=5)
    assert [e.record for e in entries] == [made.id]
    with pytest.raises(ForbiddenError):
        await records.create(
            SHEET, employee(department="Ops"), tenant.actor, scope=sales_only(tenant.admin.id)
        )
    assert await records.count(SHEET) == 1


@covers(RecordStore.update)
async def test_update(tenant: Tenant) -> None:
    records, actor = tenant.handle.records, tenant.actor
    with pytest.raises(NotFoundError):
        await records.update(SHEET, str(ULID()), 1, {"lastName": "X"}, actor)
    ames, _, cole = await three(tenant)
    changed = await records.update(
        SHEET, ames.id, 1, {"lastName": "Abel", "department": None}, actor, fields=["lastName"]
    )
    assert (changed.version, dict(changed.values)) == (2, {"lastName": "Abel"})
    unset = await records.get(SHEET, ames.id, FIELDS)
    assert unset is not None and dict(unset.values) == {"lastName": "Abel", "department": None}
    await records.update(SHEET, ames.id, 2, {"department": "Sales"}, actor)
    with pytest.raises(ConflictError) as stale:
        await records.update(SHEET, ames.id, 1, {"lastName": "Old"}, actor)
    assert stale.value.extensions["currentVersion"] == 3
    with pytest.raises(BadUserInputError):
        await records.update(SHEET, ames.id, 3, {}, actor)
    sales = sales_only(tenant.admin.id)
    with pytest.raises(NotFoundError):
        await records.update(SHEET, cole.id, 1, {"lastName": "X"}, actor, scope=sales)
    with pytest.raises(ForbiddenError):
        await records.update(SHEET, ames.id, 3, {"department": "Ops"}, actor, scope=sales)
    stored = await records.get(SHEET, ames.id, FIELDS)
    assert stored is not None and stored.version == 3 and stored.values["department"] == "Sales"


@covers(RecordStore.set_archived)
async def test_set_archived(tenant: Tenant) -> None:
    records, actor = tenant.handle.records, tenant.actor
    with pytest.raises(NotFoundError):
        await records.set_archived(SHEET, str(ULID()), 1, True, actor)
    ames, *_ = await three(tenant)
    archived = await records.set_archived(SHEET, ames.id, 1, True, actor, fields=["lastName"])
    assert (archived.archived, archived.version, dict(archived.values)) == (
        True,
        2,
        {"lastName": "Ames"},
    )
    with pytest.raises(ConflictError) as stale:
        await records.set_archived(SHEET, ames.id, 1, False, actor)
    assert stale.value.extensions["currentVersion"] == 2
    restored = await records.set_archived(SHEET, ames.id, 2, False, actor)
    assert (restored.archived, restored.version) == (False, 3)


@covers(RecordStore.delete)
async def test_delete(tenant: Tenant) -> None:
    records, actor = tenant.handle.records, tenant.actor
    with pytest.raises(NotFoundError):
        await records.delete(SHEET, str(ULID()), 1, actor)
    ames, bell, cole = await three(tenant)
    with pytest.raises(ConflictError) as stale:
        await records.delete(SHEET, ames.id, 3, actor)
    assert stale.value.extensions["currentVersion"] == 1
    gone = await records.delete(SHEET, ames.id, 1, actor)
    assert (gone.id, gone.version, dict(gone.values)) == (ames.id, 2, {})
    assert await records.get(SHEET, ames.id, FIELDS) is None
    assert [r.id async for r in records.stream(SHEET, FIELDS)] == [bell.id, cole.id]
    entries, _ = await tenant.handle.audit.page(AuditQuery(record=ames.id), first=5)
    assert len(entries) == 2  # the create and the delete
