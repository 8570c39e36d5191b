"""DetectionStore: the tenant's detection thresholds and the failed sign-ins they count."""

from __future__ import annotations

import dataclasses
import datetime as dt

from storage.contract.detection import DetectionStore
from storage.incidentvalues import DetectionThresholds
from storage.values import AuditQuery
from tests.contract.contracts import covers
from tests.contract.tamper import Tamper
from tests.contract.tenants import Tenant

LOCKOUT = dt.timedelta(minutes=15)


@covers(DetectionStore.thresholds, DetectionStore.set_thresholds)
async def test_thresholds_default_then_set_and_audited(tenant: Tenant) -> None:
    detection = tenant.handle.detection
    assert await detection.thresholds() == DetectionThresholds()
    chosen = DetectionThresholds(read_records=7, refused_requests=3, failed_signin_accounts=2)
    await detection.set_thresholds(chosen, tenant.actor)
    assert await detection.thresholds() == chosen
    again = dataclasses.replace(chosen, export_records=11)
    await detection.set_thresholds(again, tenant.actor)
    assert await detection.thresholds() == again
    entries, _ = await tenant.handle.audit.page(AuditQuery(), first=5)
    assert [e.op for e in entries[:2]] == ["update", "create"]  # audited, newest first


@covers(DetectionStore.thresholds)
async def test_changed_thresholds_fall_back_to_the_defaults(tenant: Tenant, tamper: Tamper) -> None:
    detection = tenant.handle.detection
    await detection.set_thresholds(DetectionThresholds(read_records=10**9), tenant.actor)
    await tamper.document(tenant.info.id, "settings", "detection")
    assert await detection.thresholds() == DetectionThresholds()


@covers(DetectionStore.failed_signin_accounts)
async def test_failed_signin_accounts_counts_accounts_not_attempts(tenant: Tenant) -> None:
    creds, detection = tenant.handle.credentials, tenant.handle.detection
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    assert await detection.failed_signin_accounts(before, limit=100) == 0
    for _ in range(3):  # three failures of one known account
        assert await creds.reserve_attempt(tenant.admin.id, tenant.admin.email, 5, LOCKOUT)
    for n in range(4):  # one of each of four unknown emails
        assert await creds.reserve_attempt(None, f"nobody{n}@example.com", 5, LOCKOUT)
    assert await detection.failed_signin_accounts(before, limit=100) == 5
    await creds.clear_attempts(tenant.admin.id)  # a success clears its failures
    assert await detection.failed_signin_accounts(before, limit=100) == 4
    assert await detection.failed_signin_accounts(before, limit=2) <= 2  # bounded
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    assert await detection.failed_signin_accounts(later, limit=100) == 0


@covers(DetectionStore.thresholds)
async def test_a_threshold_raised_in_the_database_is_not_trusted(
    tenant: Tenant, tamper: Tamper
) -> None:
    """A database insider who raises a threshold (to silence a rule) gets the defaults, not
    their value: the MAC covers the thresholds themselves, not only the version."""
    detection = tenant.handle.detection
    chosen = DetectionThresholds(read_records=5)
    await detection.set_thresholds(chosen, tenant.actor)
    await tamper.detection_thresholds(tenant.info.id, "read_records", 10_000_000)
    assert (await detection.thresholds()).read_records != 10_000_000
    assert await detection.thresholds() == DetectionThresholds()
