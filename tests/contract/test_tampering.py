"""What the stores promise about data changed outside the gateway (by someone with access
to the database): a trusted document so changed is absent or the stricter setting holds, a
changed control record is refused, a changed audit entry or checkpoint fails the log."""

from __future__ import annotations

import datetime as dt

import pytest

from schema.errors import AuditTamperedError, DataIntegrityError, NotFoundError
from schema.roles import RoleDefinition
from storage.base import Store
from storage.contract.api_keys import ApiKeyStore, parse_api_key
from storage.contract.credentials import CredentialStore
from storage.contract.exports import ExportStore
from storage.contract.lifecycle import TenantLifecycle
from storage.contract.operations import OperationStore
from storage.contract.reports import ReportStore
from storage.contract.roles import RoleStore
from storage.contract.seals import SealStore
from storage.contract.users import UserStore
from storage.signing import SealKey
from storage.values import OPERATOR
from tests.contract.contracts import covers
from tests.contract.data import export_job, unique_email
from tests.contract.tamper import Tamper
from tests.contract.tenants import NewTenant, Tenant


@covers(UserStore.get, UserStore.all, UserStore.update, CredentialStore.by_email)
async def test_a_changed_user_is_no_user(tenant: Tenant, tamper: Tamper) -> None:
    handle = tenant.handle
    user = await handle.users.create(unique_email(), [], tenant.actor)
    await tamper.document(tenant.info.id, "users", user.id)
    assert await handle.users.get(user.id) is None
    assert [u.id for u in await handle.users.all()] == [tenant.admin.id]
    assert await handle.credentials.by_email(user.email) is None
    assert await handle.credentials.by_id(user.id) is None
    with pytest.raises(NotFoundError):
        await handle.users.update(user.id, 1, tenant.actor, can_export=True)


@covers(RoleStore.all, ApiKeyStore.check)
async def test_a_changed_role_or_key_grants_nothing(tenant: Tenant, tamper: Tamper) -> None:
    handle = tenant.handle
    await handle.roles.put(RoleDefinition("clerk"), None, tenant.actor)
    await tamper.document(tenant.info.id, "roles", "clerk")
    assert await handle.roles.all() == []
    key, text = await handle.api_keys.create("ci", "admin", False, tenant.actor)
    parsed = parse_api_key(text)
    assert parsed is not None and await handle.api_keys.check(key.id, parsed[2]) == key
    await tamper.document(tenant.info.id, "api_keys", key.id)
    assert await handle.api_keys.check(key.id, parsed[2]) is None


@covers(
    CredentialStore.two_factor_required,
    OperationStore.allow_list,
    ReportStore.minimum_group_size,
)
async def test_changed_settings_hold_the_stricter_or_refuse(tenant: Tenant, tamper: Tamper) -> None:
    handle, tid = tenant.handle, tenant.info.id
    await handle.credentials.require_two_factor(False, tenant.actor)
    await handle.operations.set_allow_list(False, tenant.actor)
    await handle.reports.set_minimum_group_size(5, tenant.actor)
    await tamper.document(tid, "settings", "security")
    assert await handle.credentials.two_factor_required() is True
    await tamper.document(tid, "settings", "operations")
    assert await handle.operations.allow_list() is True
    await tamper.document(tid, "settings", "reports")
    with pytest.raises(DataIntegrityError):
        await handle.reports.minimum_group_size()


@covers(Store.get_tenant, TenantLifecycle.suspend)
async def test_a_changed_control_record_is_refused(
    store: Store, tenant: Tenant, tamper: Tamper
) -> None:
    await tamper.document(tenant.info.id, "control", tenant.info.id)
    assert await store.get_tenant(tenant.info.id) is None
    with pytest.raises(DataIntegrityError):
        await store.lifecycle(settle=dt.timedelta(0)).suspend(tenant.info.id, OPERATOR)


@covers(SealStore.verify, SealStore.seal)
async def test_a_changed_entry_fails_the_log(
    tenant: Tenant, tamper: Tamper, seal_key: SealKey
) -> None:
    seals = tenant.handle.seals
    before = await seals.seal(seal_key)
    seq = await tenant.handle.audit.record_event("probe", tenant.actor, {})
    await tenant.handle.audit.record_event("probe", tenant.actor, {})
    await tamper.audit_entry(tenant.info.id, seq)
    report = await seals.verify(seal_key)
    assert not report.ok and report.first_bad == seq and report.reason
    with pytest.raises(AuditTamperedError):
        await seals.seal(seal_key)
    head = await seals.head(seal_key)  # the entries before it were sealed, not it
    assert head is not None and head.seq == before == seq - 1


@covers(SealStore.head)
async def test_a_changed_checkpoint_fails_the_head(
    tenant: Tenant, tamper: Tamper, seal_key: SealKey
) -> None:
    await tenant.handle.seals.seal(seal_key)
    await tamper.last_checkpoint(tenant.info.id)
    with pytest.raises(AuditTamperedError):
        await tenant.handle.seals.head(seal_key)
    assert not (await tenant.handle.seals.verify(seal_key)).ok


@covers(ExportStore.get)
async def test_an_export_filter_under_another_key_is_refused(
    tenant: Tenant, new_tenant: NewTenant, tamper: Tamper
) -> None:
    other = await new_tenant()
    theirs, mine = export_job(other.admin.id, {"lastName": "Ames"}), export_job(tenant.admin.id)
    await other.handle.exports.create(theirs, other.actor)
    await tenant.handle.exports.create(mine, tenant.actor)
    await tamper.copy_export_filter((other.info.id, theirs.id), (tenant.info.id, mine.id))
    with pytest.raises(DataIntegrityError):
        await tenant.handle.exports.get(mine.id)


@covers(ExportStore.get)
async def test_an_export_filter_that_is_no_ciphertext_is_refused(
    tenant: Tenant, tamper: Tamper
) -> None:
    job = export_job(tenant.admin.id)
    await tenant.handle.exports.create(job, tenant.actor)
    await tamper.plain_export_filter(tenant.info.id, job.id)
    with pytest.raises(DataIntegrityError):
        await tenant.handle.exports.get(job.id)
