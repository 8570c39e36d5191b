"""ExportStore, OperationStore, ReportStore and DocumentCipher of one tenant."""

from __future__ import annotations

import pytest
from ulid import ULID

from schema.errors import BadUserInputError, ConflictError, EnclaveError, NotFoundError
from storage.contract.documents import DocumentCipher
from storage.contract.exports import ExportStore
from storage.contract.operations import OperationStore
from storage.contract.reports import ReportStore
from storage.values import AuditQuery, ReportQuery
from tests.contract.contracts import covers
from tests.contract.data import SHEET, digest, employee, entries, export_job
from tests.contract.tenants import NewTenant, Tenant

BY_DEPARTMENT = ReportQuery(group_by=("department",), measures=(("COUNT", None),))
# As resolvers give it: a definition always has its filter (the store keeps it apart).
DEFINITION = {
    "datasheet": SHEET.name,
    "groupBy": ["department"],
    "filter": [{"field": "lastName", "value": "Ames"}],
}


async def ops(tenant: Tenant) -> list[str]:
    """The audit log's entries, oldest first, as their ops."""
    entries, _ = await tenant.handle.audit.page(AuditQuery(), first=100)
    return [e.op for e in reversed(entries)]


@covers(ExportStore.create, ExportStore.get)
async def test_exports_create_get(tenant: Tenant) -> None:
    exports = tenant.handle.exports
    assert await exports.get(str(ULID())) is None
    job = export_job(tenant.admin.id, {"lastName": "Ames"})
    await exports.create(job, tenant.actor)
    stored = await exports.get(job.id)
    assert stored is not None
    assert (stored.id, stored.principal_id, stored.fields, dict(stored.equals)) == (
        job.id,
        tenant.admin.id,
        job.fields,
        {"lastName": "Ames"},
    )
    (entry,), _ = await tenant.handle.audit.page(AuditQuery(), first=1, with_values=True)
    assert entry.op == "export" and entry.after is not None  # the filter, kept encrypted


@covers(ExportStore.claim, ExportStore.record_done)
async def test_exports_claim_record_done(tenant: Tenant) -> None:
    exports = tenant.handle.exports
    assert await exports.claim(str(ULID()), tenant.actor) is False
    job = export_job(tenant.admin.id)
    await exports.create(job, tenant.actor)
    assert [await exports.claim(job.id, tenant.actor) for _ in "ab"] == [True, False]
    await exports.record_done(job, tenant.actor, 12, True)
    assert (await ops(tenant))[-3:] == ["export", "export_download", "export_done"]


@covers(
    OperationStore.document,
    OperationStore.register,
    OperationStore.allow_list,
    OperationStore.set_allow_list,
)
async def test_operations(tenant: Tenant) -> None:
    operations = tenant.handle.operations
    text = "query { employees(first: 1) { nodes { id } } }"
    assert await operations.document(digest(text)) is None
    assert await operations.allow_list() is False
    logged = await entries(tenant.handle)
    assert await operations.register(digest(text), text, tenant.actor) is True
    assert await operations.register(digest(text), text, tenant.actor) is False
    assert await entries(tenant.handle) == logged + 1  # the registration is audited
    assert await operations.document(digest(text)) == text
    await operations.set_allow_list(True, tenant.actor)
    assert await operations.allow_list() is True
    await operations.set_allow_list(False, tenant.actor)
    assert await operations.allow_list() is False
    assert await entries(tenant.handle) == logged + 3


@covers(ReportStore.aggregate)
async def test_aggregate(tenant: Tenant) -> None:
    reports = tenant.handle.reports
    assert await reports.aggregate(SHEET, BY_DEPARTMENT) == []
    for department in ("Sales", "Sales", "Ops"):
        await tenant.handle.records.create(SHEET, employee(department=department), tenant.actor)
    groups = await reports.aggregate(SHEET, BY_DEPARTMENT)
    assert {g.keys: (g.count, g.measures) for g in groups} == {
        ("Sales",): (2, (2,)),
        ("Ops",): (1, (1,)),
    }
    sales = ReportQuery(group_by=("department",), measures=(), equals={"department": "Sales"})
    assert [(g.keys, g.count) for g in await reports.aggregate(SHEET, sales)] == [(("Sales",), 2)]
    with pytest.raises(BadUserInputError) as too_many:
        await reports.aggregate(
            SHEET, ReportQuery(group_by=("department",), measures=(), max_groups=1)
        )
    assert too_many.value.extensions.get("field") == "groupBy"


@covers(ReportStore.minimum_group_size, ReportStore.set_minimum_group_size)
async def test_minimum_group_size(tenant: Tenant) -> None:
    reports = tenant.handle.reports
    assert await reports.minimum_group_size() == 5
    await reports.set_minimum_group_size(7, tenant.actor)
    assert await reports.minimum_group_size() == 7
    assert (await ops(tenant))[-1] in {"create", "update"}  # audited


@covers(ReportStore.list_definitions, ReportStore.get_definition, ReportStore.put_definition)
async def test_definitions(tenant: Tenant) -> None:
    reports, actor = tenant.handle.reports, tenant.actor
    assert await reports.list_definitions() == []
    assert await reports.get_definition(str(ULID())) is None
    with pytest.raises(NotFoundError) as unknown:
        await reports.put_definition(str(ULID()), "r", DEFINITION, 1, actor)
    assert unknown.value.extensions.get("field") == "id"
    made = await reports.put_definition(None, "By department", DEFINITION, None, actor)
    assert (made.name, dict(made.definition), made.version) == ("By department", DEFINITION, 1)
    assert await reports.get_definition(made.id) == made
    renamed = await reports.put_definition(made.id, "Departments", DEFINITION, 1, actor)
    assert (renamed.id, renamed.name, renamed.version) == (made.id, "Departments", 2)
    with pytest.raises(ConflictError):
        await reports.put_definition(made.id, "Stale", DEFINITION, 1, actor)
    other = await reports.put_definition(None, "Other", DEFINITION, None, actor)
    assert [d.id for d in await reports.list_definitions()] == sorted([made.id, other.id])


@covers(ReportStore.delete_definition)
async def test_delete_definition(tenant: Tenant) -> None:
    reports, actor = tenant.handle.reports, tenant.actor
    with pytest.raises(NotFoundError):
        await reports.delete_definition(str(ULID()), 1, actor)
    made = await reports.put_definition(None, "r", DEFINITION, None, actor)
    with pytest.raises(ConflictError):
        await reports.delete_definition(made.id, 2, actor)
    logged = await entries(tenant.handle)
    deleted = await reports.delete_definition(made.id, 1, actor)
    assert await entries(tenant.handle) == logged + 1
    assert (deleted.id, deleted.name) == (made.id, "r")
    assert await reports.get_definition(made.id) is None
    assert await reports.list_definitions() == []


@covers(DocumentCipher.encrypt, DocumentCipher.decrypt)
async def test_documents(tenant: Tenant, new_tenant: NewTenant) -> None:
    documents = tenant.handle.documents
    answer = {"data": {"createEmployee": {"id": "x", "lastName": "Ames"}}}
    sealed = await documents.encrypt(answer)
    assert isinstance(sealed, bytes) and b"Ames" not in sealed
    assert sealed != await documents.encrypt(answer)  # randomized
    assert await documents.decrypt(sealed) == answer
    assert await documents.decrypt(await documents.encrypt({})) == {}
    other = await new_tenant()
    with pytest.raises(EnclaveError):  # never decrypted for another tenant
        await other.handle.documents.decrypt(sealed)
    for garbage in (b"not ciphertext", sealed[: len(sealed) // 2]):
        with pytest.raises(EnclaveError):  # not a pymongocrypt or driver error
            await documents.decrypt(garbage)
