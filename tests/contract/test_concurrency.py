"""The promises of atomicity under concurrency: of concurrent uses of a one-time thing
exactly one (or at most *slots*) gets it, whatever the interleaving."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from schema.errors import ConflictError
from storage.base import Store
from storage.contract.credentials import CredentialStore
from storage.contract.exports import ExportStore
from storage.contract.lifecycle import TenantLifecycle
from storage.contract.sessions import SessionStore
from storage.contract.setup_codes import SetupCodeStore
from storage.values import OPERATOR
from tests.contract.contracts import covers
from tests.contract.data import export_job, unique_email
from tests.contract.tenants import Tenant

TIMES = 6
TTL = dt.timedelta(minutes=5)


async def at_once(*calls: Any) -> list[Any]:
    """The results of *calls* run concurrently, exceptions as results."""
    return await asyncio.gather(*calls, return_exceptions=True)


@covers(SessionStore.rotate)
async def test_one_of_concurrent_refreshes_wins(tenant: Tenant) -> None:
    sessions = tenant.handle.sessions
    sid, secret = await sessions.open(tenant.admin.id, TTL)
    results = await at_once(*(sessions.rotate(sid, secret, TTL) for _ in range(TIMES)))
    assert len([r for r in results if r is not None]) <= 1
    assert not [r for r in results if isinstance(r, BaseException)]


@covers(CredentialStore.claim_totp_step, CredentialStore.reserve_attempt)
async def test_one_claim_per_step_and_at_most_slots_attempts(tenant: Tenant) -> None:
    creds, me = tenant.handle.credentials, tenant.admin
    claims = await at_once(*(creds.claim_totp_step(me.id, 7) for _ in range(TIMES)))
    assert sorted(claims) == [False] * (TIMES - 1) + [True]
    hour = dt.timedelta(hours=1)
    slots = await at_once(*(creds.reserve_attempt(me.id, me.email, 2, hour) for _ in range(TIMES)))
    assert all(isinstance(s, bool) for s in slots) and slots.count(True) <= 2


@covers(SetupCodeStore.redeem, ExportStore.claim)
async def test_one_redemption_and_one_download(tenant: Tenant) -> None:
    handle, actor = tenant.handle, tenant.actor
    user = await handle.users.create(unique_email(), [], actor)
    code, _ = await handle.setup_codes.issue(user.id, TTL, actor)
    redeemed = await at_once(*(handle.setup_codes.redeem(user.id, code, actor) for _ in "abcd"))
    assert sorted(redeemed) == [False, False, False, True]
    job = export_job(tenant.admin.id)
    await handle.exports.create(job, actor)
    claimed = await at_once(*(handle.exports.claim(job.id, actor) for _ in "abcd"))
    assert sorted(claimed) == [False, False, False, True]


@covers(TenantLifecycle.suspend)
async def test_one_of_two_operators_wins(store: Store, tenant: Tenant) -> None:
    lifecycle = store.lifecycle()
    results = await at_once(
        lifecycle.suspend(tenant.info.id, OPERATOR), lifecycle.suspend(tenant.info.id, OPERATOR)
    )
    assert sorted(type(r).__name__ for r in results) == ["ConflictError", "TenantInfo"]
    assert [r.status for r in results if not isinstance(r, ConflictError)] == ["suspended"]
