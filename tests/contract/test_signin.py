"""CredentialStore, SessionStore and SetupCodeStore: what the built-in sign-in checks."""

from __future__ import annotations

import datetime as dt

import pytest
from ulid import ULID

from schema.errors import NotFoundError
from storage.contract.credentials import CredentialStore
from storage.contract.sessions import SessionStore
from storage.contract.setup_codes import SetupCodeStore
from storage.values import AuditQuery, User
from tests.contract.contracts import covers
from tests.contract.data import PASSWORD_HASH, TOTP_SECRET, entries, unique_email
from tests.contract.tenants import Tenant

TTL = dt.timedelta(minutes=5)
HOUR = dt.timedelta(hours=1)


async def member(tenant: Tenant) -> User:
    return await tenant.handle.users.create(unique_email(), [], tenant.actor)


@covers(CredentialStore.by_email, CredentialStore.by_id, CredentialStore.set_password_hash)
async def test_credentials_and_password(tenant: Tenant) -> None:
    creds = tenant.handle.credentials
    assert await creds.by_email(unique_email()) is None
    assert await creds.by_id(str(ULID())) is None
    with pytest.raises(NotFoundError):
        await creds.set_password_hash(str(ULID()), PASSWORD_HASH, tenant.actor)
    user = await member(tenant)
    fresh = await creds.by_email(user.email)
    assert fresh is not None and fresh == await creds.by_id(user.id)
    assert (fresh.user_id, fresh.password_hash, fresh.totp_enabled) == (user.id, None, False)
    await creds.set_password_hash(user.id, PASSWORD_HASH, tenant.actor)
    hashed = await creds.by_id(user.id)
    assert hashed is not None and hashed.password_hash == PASSWORD_HASH
    assert hashed.version == fresh.version + 1
    entries, _ = await tenant.handle.audit.page(AuditQuery(record=user.id), first=5)
    assert len(entries) == 2  # created, then the password set


@covers(CredentialStore.set_totp_pending, CredentialStore.activate_totp)
async def test_totp_enrolment(tenant: Tenant) -> None:
    creds, actor = tenant.handle.credentials, tenant.actor
    with pytest.raises(NotFoundError):
        await creds.set_totp_pending(str(ULID()), TOTP_SECRET, actor)
    user = await member(tenant)
    with pytest.raises(NotFoundError):  # nothing is being enrolled
        await creds.activate_totp(user.id, actor)
    await creds.set_totp_pending(user.id, TOTP_SECRET, actor)
    pending = await creds.by_id(user.id)
    assert pending is not None
    assert (pending.totp_pending, pending.totp_secret, pending.totp_enabled) == (
        TOTP_SECRET,
        None,
        False,
    )
    await creds.activate_totp(user.id, actor)
    active = await creds.by_id(user.id)
    assert active is not None
    assert (active.totp_pending, active.totp_secret, active.totp_enabled) == (
        None,
        TOTP_SECRET,
        True,
    )
    await creds.set_totp_pending(user.id, "KRSXG5CTMVRXEZLU", actor)  # beside the active one
    both = await creds.by_id(user.id)
    assert both is not None and (both.totp_secret, both.totp_pending) == (
        TOTP_SECRET,
        "KRSXG5CTMVRXEZLU",
    )


@covers(CredentialStore.claim_totp_step)
async def test_claim_totp_step(tenant: Tenant) -> None:
    creds = tenant.handle.credentials
    user, other = await member(tenant), await member(tenant)
    assert await creds.claim_totp_step(user.id, 100) is True
    assert await creds.claim_totp_step(user.id, 100) is False
    assert await creds.claim_totp_step(user.id, 101) is True
    assert await creds.claim_totp_step(other.id, 100) is True


@covers(CredentialStore.reserve_attempt, CredentialStore.clear_attempts, CredentialStore.prune)
async def test_attempt_slots(tenant: Tenant) -> None:
    creds = tenant.handle.credentials
    assert await creds.prune() == 0
    user = await member(tenant)
    assert [await creds.reserve_attempt(user.id, user.email, 2, HOUR) for _ in "abc"] == [
        True,
        True,
        False,
    ]
    stranger = unique_email()  # an unknown account has slots of its own, by email
    assert [await creds.reserve_attempt(None, stranger, 1, HOUR) for _ in "ab"] == [True, False]
    assert await creds.reserve_attempt(user.id, user.email, 2, dt.timedelta(0)) is True
    await creds.clear_attempts(user.id)
    assert await creds.reserve_attempt(user.id, user.email, 2, HOUR) is True
    assert await creds.reserve_attempt(None, stranger, 1, HOUR) is False  # not cleared
    assert await creds.prune() == 0  # every slot is still of use
    assert await creds.reserve_attempt(None, stranger, 1, HOUR) is False


@covers(CredentialStore.two_factor_required, CredentialStore.require_two_factor)
async def test_two_factor_requirement(tenant: Tenant) -> None:
    creds = tenant.handle.credentials
    assert await creds.two_factor_required() is False
    await creds.require_two_factor(True, tenant.actor)
    assert await creds.two_factor_required() is True
    await creds.require_two_factor(False, tenant.actor)
    assert await creds.two_factor_required() is False
    entries, _ = await tenant.handle.audit.page(AuditQuery(), first=2)
    assert [e.op for e in entries] == ["update", "create"]  # both changes audited


@covers(SessionStore.open, SessionStore.rotate, SessionStore.active)
async def test_sessions_open_rotate_active(tenant: Tenant) -> None:
    sessions = tenant.handle.sessions
    assert await sessions.rotate("no-such-session", "secret", TTL) is None
    assert await sessions.active("no-such-session", tenant.admin.id, None) is False
    user = await member(tenant)
    sid, secret = await sessions.open(user.id, TTL, scope="mfa")
    assert await sessions.active(sid, user.id, "mfa") is True
    assert await sessions.active(sid, user.id, None) is False  # scoped to "mfa" only
    assert await sessions.active(sid, tenant.admin.id, "mfa") is False
    rotated = await sessions.rotate(sid, secret, TTL)
    assert rotated is not None and rotated[0] == user.id and rotated[2] == "mfa"
    assert rotated[1] != secret
    assert await sessions.rotate(sid, secret, TTL) is None  # used twice: the session ends
    assert await sessions.active(sid, user.id, "mfa") is False
    assert await sessions.rotate(sid, rotated[1], TTL) is None


@covers(SessionStore.close, SessionStore.close_all, SessionStore.prune)
async def test_sessions_close_and_prune(tenant: Tenant) -> None:
    sessions = tenant.handle.sessions
    await sessions.close("no-such-session")
    assert await sessions.prune() == 0
    user = await member(tenant)
    one, _ = await sessions.open(user.id, TTL)
    two, _ = await sessions.open(user.id, TTL)
    three, _ = await sessions.open(user.id, TTL)
    await sessions.close(one)
    assert [await sessions.active(s, user.id, None) for s in (one, two, three)] == [
        False,
        True,
        True,
    ]
    await sessions.close_all(user.id, keep=three)
    assert [await sessions.active(s, user.id, None) for s in (two, three)] == [False, True]
    await sessions.close_all(user.id)
    assert await sessions.active(three, user.id, None) is False
    expired, _ = await sessions.open(user.id, -dt.timedelta(days=2))
    assert await sessions.active(expired, user.id, None) is False
    assert await sessions.prune() >= 1


@covers(SessionStore.of_user)
async def test_sessions_of_a_user(tenant: Tenant) -> None:
    sessions = tenant.handle.sessions
    assert await sessions.of_user(str(ULID())) == []  # no such user
    user = await member(tenant)
    assert await sessions.of_user(user.id) == []
    first, _ = await sessions.open(user.id, TTL)
    second, _ = await sessions.open(user.id, TTL, scope="mfa", second_factor=True)
    closed, _ = await sessions.open(user.id, TTL)
    await sessions.open(user.id, -dt.timedelta(minutes=1))  # expired
    await sessions.open(tenant.admin.id, TTL)  # someone else's
    await sessions.close(closed)
    listed = await sessions.of_user(user.id)
    assert {(s.id, s.scope, s.second_factor) for s in listed} == {
        (second, "mfa", True),
        (first, None, False),
    }
    assert [s.opened_at for s in listed] == sorted((s.opened_at for s in listed), reverse=True)
    assert all(s.opened_at < s.expires_at for s in listed)
    assert all(s.expires_at > dt.datetime.now(dt.UTC) for s in listed)


@covers(SetupCodeStore.issue, SetupCodeStore.redeem, SetupCodeStore.pending)
async def test_setup_codes(tenant: Tenant) -> None:
    codes, actor = tenant.handle.setup_codes, tenant.actor
    with pytest.raises(NotFoundError):
        await codes.issue(str(ULID()), TTL, actor)
    user = await member(tenant)
    assert await codes.pending(user.id) is False
    assert await codes.redeem(user.id, "no-such-code", actor) is False
    first, _ = await codes.issue(user.id, TTL, actor)
    code, expires = await codes.issue(user.id, TTL, actor)
    assert expires > dt.datetime.now(dt.UTC) and await codes.pending(user.id) is True
    assert await codes.redeem(user.id, first, actor) is False  # replaced by the second
    logged = await entries(tenant.handle)
    assert await codes.redeem(user.id, code, actor) is True
    assert await entries(tenant.handle) == logged + 1  # audited when it is used
    assert await codes.redeem(user.id, code, actor) is False
    assert await codes.pending(user.id) is False
    stale, _ = await codes.issue(user.id, -TTL, actor)
    assert await codes.pending(user.id) is True  # expired or not
    assert await codes.redeem(user.id, stale, actor) is False
