"""UserStore, RoleStore and ApiKeyStore: who may do what in a tenant."""

from __future__ import annotations

import datetime as dt

import pytest
from ulid import ULID

from schema.errors import BadUserInputError, ConflictError, NotFoundError
from schema.roles import RoleDefinition, SheetGrant
from storage.contract.api_keys import ApiKeyStore, parse_api_key
from storage.contract.roles import RoleStore
from storage.contract.users import UserStore
from tests.contract.contracts import covers
from tests.contract.data import SHEET, entries, unique_email
from tests.contract.tenants import Tenant

CLERK = RoleDefinition(
    "clerk", "reads last names", {SHEET.name: SheetGrant(read=frozenset({"lastName"}))}
)


@covers(UserStore.create, UserStore.get, UserStore.all)
async def test_users_create_get_all(tenant: Tenant) -> None:
    users = tenant.handle.users
    assert await users.get(str(ULID())) is None
    assert [u.id for u in await users.all()] == [tenant.admin.id]  # a fresh tenant's only one
    email = unique_email()
    made = await users.create(email, [], tenant.actor, can_export=True)
    assert (made.email, made.roles, made.can_export, made.version) == (email, (), True, 1)
    assert await users.get(made.id) == made
    assert sorted(u.id for u in await users.all()) == sorted([tenant.admin.id, made.id])
    with pytest.raises(ConflictError) as taken:
        await users.create(email, [], tenant.actor)
    assert taken.value.extensions.get("field") == "email"
    with pytest.raises(BadUserInputError) as unknown:
        await users.create(unique_email(), ["no-such-role"], tenant.actor)
    assert unknown.value.extensions.get("field") == "roles"
    assert len(await users.all()) == 2


@covers(UserStore.update)
async def test_users_update(tenant: Tenant) -> None:
    users, actor = tenant.handle.users, tenant.actor
    with pytest.raises(NotFoundError):
        await users.update(str(ULID()), 1, actor, can_export=True)
    await tenant.handle.roles.put(CLERK, None, actor)
    user = await users.create(unique_email(), [], actor)
    changed = await users.update(user.id, 1, actor, roles=["clerk"], can_export=True)
    assert (changed.roles, changed.can_export, changed.version) == (("clerk",), True, 2)
    assert await users.get(user.id) == changed
    with pytest.raises(ConflictError) as stale:
        await users.update(user.id, 1, actor, can_export=False)
    assert stale.value.extensions.get("currentVersion") == 2
    with pytest.raises(BadUserInputError):
        await users.update(user.id, 2, actor)
    with pytest.raises(BadUserInputError):
        await users.update(user.id, 2, actor, roles=["no-such-role"])
    with pytest.raises(ConflictError):  # the last admin keeps the admin role
        await users.update(tenant.admin.id, tenant.admin.version, actor, roles=[])


@covers(RoleStore.all, RoleStore.put, RoleStore.versions, RoleStore.policy_version)
async def test_roles_put_all_versions(tenant: Tenant) -> None:
    roles, actor = tenant.handle.roles, tenant.actor
    assert await roles.all() == []
    # "0 before any": a fresh tenant's first admin already got a role, so it is past 0.
    start = await roles.policy_version()
    assert start >= 0
    with pytest.raises(NotFoundError):
        await roles.versions("clerk")
    with pytest.raises(NotFoundError):
        await roles.put(CLERK, 1, actor)
    made = await roles.put(CLERK, None, actor)
    assert (made.definition, made.version) == (CLERK, 1)
    with pytest.raises(ConflictError):
        await roles.put(CLERK, None, actor)
    wider = RoleDefinition("clerk", "reads more", CLERK.sheets)
    replaced = await roles.put(wider, 1, actor)
    assert (replaced.definition, replaced.version) == (wider, 2)
    with pytest.raises(ConflictError) as stale:
        await roles.put(CLERK, 1, actor)
    assert stale.value.extensions.get("currentVersion") == 2
    assert [r.definition for r in await roles.all()] == [wider]
    history = await roles.versions("clerk")
    assert [(v.version, v.definition) for v in history] == [(1, CLERK), (2, wider)]
    assert {v.by for v in history} == {tenant.admin.id}
    assert await roles.policy_version() > start


@covers(RoleStore.delete)
async def test_roles_delete(tenant: Tenant) -> None:
    roles, actor = tenant.handle.roles, tenant.actor
    with pytest.raises(NotFoundError):
        await roles.delete("clerk", 1, actor)
    await roles.put(CLERK, None, actor)
    holder = await tenant.handle.users.create(unique_email(), ["clerk"], actor)
    with pytest.raises(ConflictError):  # held by a user
        await roles.delete("clerk", 1, actor)
    await tenant.handle.users.update(holder.id, 1, actor, roles=[])
    with pytest.raises(ConflictError) as stale:
        await roles.delete("clerk", 2, actor)
    assert stale.value.extensions.get("currentVersion") == 1
    before = await roles.policy_version()
    deleted = await roles.delete("clerk", 1, actor)
    assert (deleted.definition, deleted.version) == (CLERK, 2)
    assert await roles.all() == []
    assert [v.definition for v in await roles.versions("clerk")] == [CLERK, None]
    assert await roles.policy_version() > before


@covers(ApiKeyStore.create, ApiKeyStore.all, ApiKeyStore.check)
async def test_api_keys_create_all_check(tenant: Tenant) -> None:
    keys = tenant.handle.api_keys
    assert await keys.all() == []
    assert await keys.check(str(ULID()), "secret") is None
    with pytest.raises(BadUserInputError) as unknown:
        await keys.create("ci", "no-such-role", False, tenant.actor)
    assert unknown.value.extensions.get("field") == "role"
    key, text = await keys.create("ci", "admin", True, tenant.actor)
    assert (key.name, key.role, key.can_export, key.revoked, key.last_used_at) == (
        "ci",
        "admin",
        True,
        False,
        None,
    )
    parsed = parse_api_key(text)
    assert parsed is not None and parsed[:2] == (tenant.info.id, key.id)
    assert await keys.all() == [key]
    assert await keys.check(key.id, parsed[2]) == key
    assert await keys.check(key.id, parsed[2][:-1] + "x") is None


@covers(ApiKeyStore.revoke, ApiKeyStore.touch)
async def test_api_keys_revoke_touch(tenant: Tenant) -> None:
    keys = tenant.handle.api_keys
    with pytest.raises(NotFoundError):
        await keys.revoke(str(ULID()), tenant.actor)
    key, text = await keys.create("ci", "admin", False, tenant.actor)
    at = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    logged = await entries(tenant.handle)
    await keys.touch(key.id, at)
    assert await entries(tenant.handle) == logged  # bookkeeping, not audited
    (touched,) = await keys.all()
    assert touched.last_used_at is not None and touched.last_used_at.replace(tzinfo=dt.UTC) == at
    revoked = await keys.revoke(key.id, tenant.actor)
    assert await entries(tenant.handle) == logged + 1
    assert revoked.revoked and revoked.id == key.id
    parsed = parse_api_key(text)
    assert parsed is not None and await keys.check(key.id, parsed[2]) is None
    assert [k.revoked for k in await keys.all()] == [True]  # revoked keys are listed
