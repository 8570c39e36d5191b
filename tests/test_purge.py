"""Purge: the data key and the database are destroyed (crypto-shredding), copies made
before cannot be decrypted by anyone with the key vault, running processes lose the key
within seconds, a certificate stays, and scheduled purges are idempotent and resumable."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.encryption import AsyncClientEncryption
from pymongo.errors import EncryptionError

from gateway.services import Services
from gateway.settings import Settings
from regions.clients import CODEC_OPTIONS, KEY_VAULT_NAMESPACE
from schema.errors import ConflictError
from storage.contract.lifecycle import TenantLifecycle
from storage.mongo.lifecycle import SETTLE, MongoLifecycle
from storage.mongo.store import MongoStore
from storage.values import OPERATOR
from tests.support.client import GraphQLClient, make_tenant
from tests.support.employees import CREATE_EMPLOYEE, create_employee, employee_input
from tests.support.operator import enclave, enclave_json, eventually
from tests.support.raw import is_ciphertext, plain_client

CLI = OPERATOR  # as the CLI, and every other operator, signs its changes
HOUR = dt.timedelta(hours=1)


def lifecycle(services: Services) -> TenantLifecycle:
    return services.store.lifecycle()


def mongo_lifecycle(services: Services, settle: dt.timedelta | None = None) -> MongoLifecycle:
    """The MongoDB lifecycle, for the tests that stop a purge half-way."""
    lc = services.store.lifecycle(settle=settle)
    assert isinstance(lc, MongoLifecycle)
    return lc


async def _ciphertexts(settings: Settings, tenant_id: str) -> list[Any]:
    raw = plain_client(settings, "eu")
    try:
        docs = await raw[f"tenant_{tenant_id}"].employees.find({}).to_list()
    finally:
        await raw.close()
    values = [v for d in docs for v in d.values() if is_ciphertext(v)]
    assert len(values) >= 10
    return values


async def test_purge_destroys_key_and_data_and_copies_stay_unreadable(
    settings: Settings, services: Services, http: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(services, "DE", "Purged Org")
    client = GraphQLClient(http, tenant.token)
    for _ in range(3):
        await create_employee(client)
    copies = await _ciphertexts(settings, tenant.id)  # a "backup" of the raw documents
    vault_db, vault_coll = KEY_VAULT_NAMESPACE.split(".", 1)
    raw = plain_client(settings, "eu")
    try:
        vault = raw[vault_db][vault_coll]
        key = await vault.find_one({"keyAltNames": tenant.id})
        assert key is not None

        # This process holds the key (cached) and decrypts: a running gateway's client.
        running = MongoStore.of(services.store).registry["eu"].encryption
        assert await running.decrypt(copies[0])

        await lifecycle(services).terminate(tenant.id, CLI)
        # Not while gateways may still be serving it (deterministic: a long settle time).
        cautious = services.store.lifecycle(settle=HOUR)
        with pytest.raises(ConflictError, match="terminated seconds ago"):
            await cautious.purge(tenant.id, CLI, before_due=True)
        await asyncio.sleep(SETTLE.total_seconds())
        cert = enclave_json(settings, "tenants", "purge", tenant.id, "--now", "--yes")
        assert cert["tenantId"] == tenant.id
        assert cert["keyIdDestroyed"] == str(key["_id"].as_uuid())
        assert cert["counts"]["employees"] == 3
        assert cert["counts"]["audit"] >= 4
        assert cert["purgedAt"] and cert["by"] == {"kind": "operator", "id": "operator"}
        assert await vault.count_documents({"keyAltNames": tenant.id}) == 0
        assert f"tenant_{tenant.id}" not in await raw.list_database_names()
    finally:
        await raw.close()
    info = await services.store.get_tenant(tenant.id)
    assert info is not None and info.status == "purged"
    assert (
        info.certificate is not None
        and info.certificate["keyIdDestroyed"] == cert["keyIdDestroyed"]
    )

    # A new client with the key vault and the master key cannot decrypt the copies...
    fresh_plain = plain_client(settings, "eu")
    fresh: AsyncClientEncryption[dict[str, Any]] = AsyncClientEncryption(
        settings.eu.kms_provider_settings(), KEY_VAULT_NAMESPACE, fresh_plain, CODEC_OPTIONS
    )
    try:
        for value in copies:
            with pytest.raises(EncryptionError):
                await fresh.decrypt(value)
    finally:
        await fresh.close()
        await fresh_plain.close()

    # ...and the process that had the key cached loses it within its key cache time.
    async def lost() -> bool:
        try:
            await running.decrypt(copies[0])
        except EncryptionError:
            return True
        return False

    await eventually(lost)

    # Purging again is a no-op that shows the same certificate; restoring is refused.
    again = enclave_json(settings, "tenants", "purge", tenant.id, "--yes")
    assert again["purgedAt"] == cert["purgedAt"]
    refused = enclave(settings, "tenants", "restore", tenant.id)
    assert refused.returncode == 1 and "cannot restore a tenant that is purged" in refused.stderr


async def test_purge_due_is_idempotent_and_finishes_interrupted_purges(
    settings: Settings, services: Services, http: httpx.AsyncClient
) -> None:
    lc = mongo_lifecycle(services)
    due, later, crashed = [await make_tenant(services, c) for c in ("PL", "US", "SE")]
    for t in (due, later, crashed):
        await create_employee(GraphQLClient(http, t.token))
    await lc.terminate(due.id, CLI, retention_days=0)
    await lc.terminate(later.id, CLI, retention_days=30)
    await lc.terminate(crashed.id, CLI, retention_days=0)
    await asyncio.sleep(SETTLE.total_seconds())
    # A purge that stopped after its first step (claimed, key destroyed): "purging".
    control = lc._control(crashed.id)
    doc = await lc._claim(control, await control.get(crashed.id), CLI)
    await control.set_progress(crashed.id, {"purge.done": ["key"]})
    assert doc["status"] == "purging"

    first = enclave(settings, "tenants", "purge-due")
    assert first.returncode in (0, 1), first.stderr  # other tests' tenants may be due too
    outcomes = {o["tenant"]: o["outcome"] for o in _json(first.stdout)}
    assert outcomes[due.id] == "purged" and outcomes[crashed.id] == "purged"
    assert later.id not in outcomes
    for t in (due, crashed):
        info = await services.store.get_tenant(t.id)
        assert info is not None and info.status == "purged" and info.certificate
        assert info.certificate["counts"]["employees"] == 1
    still = await services.store.get_tenant(later.id)
    assert still is not None and still.status == "terminated"

    # A second run finds nothing of these to do.
    second = enclave(settings, "tenants", "purge-due")
    ids = {o["tenant"] for o in _json(second.stdout)}
    assert not ids & {due.id, crashed.id, later.id}


def _json(text: str) -> list[dict[str, Any]]:
    import json

    value: list[dict[str, Any]] = json.loads(text)
    return value


async def test_the_gateway_purges_what_is_due(settings: Settings, services: Services) -> None:
    tenant = await make_tenant(services, "AT")
    await lifecycle(services).terminate(tenant.id, CLI, retention_days=0)
    gateway = Services.from_settings(_fast(settings))
    gateway.start_background()
    try:

        async def purged() -> bool:
            info = await services.store.get_tenant(tenant.id)
            return info is not None and info.status == "purged"

        await eventually(purged)
    finally:
        await gateway.aclose()
    info = await services.store.get_tenant(tenant.id)
    assert info is not None and info.certificate is not None
    assert info.certificate["by"] == {"kind": "operator", "id": "operator"}


def _fast(settings: Settings) -> Settings:
    return settings.model_copy(update={"purge_interval_seconds": 0.5})


async def test_one_purge_due_run_finishes_a_purge_that_crashed_inside_its_claim(
    services: Services, http: httpx.AsyncClient
) -> None:
    lc = mongo_lifecycle(services, settle=dt.timedelta(0))
    tenant = await make_tenant(services, "NL")
    await create_employee(GraphQLClient(http, tenant.token))
    await lc.terminate(tenant.id, CLI, retention_days=0)
    # The purge claimed its transition, then crashed before the record showed "purging".
    control = lc._control(tenant.id)
    doc = await control.get(tenant.id)
    version = int(doc["stateVersion"]) + 1
    progress = {"startedAt": doc["terminatedAt"], "counts": {}, "keyId": None, "done": []}
    await control.transitions.insert_one(
        {
            "_id": f"{tenant.id}/{version}",
            "tenant": tenant.id,
            "action": "purge",
            "from": "terminated",
            "to": "purging",
            "at": doc["terminatedAt"],
            "actor": {"kind": "operator", "id": "operator"},
            "set": {"purge": progress, "status": "purging", "stateVersion": version},
            "unset": [],
        }
    )
    # What purge-due does for each tenant it finds due (this one is, and still terminated).
    certificate = await lc.purge(tenant.id, CLI)
    assert certificate["tenantId"] == tenant.id
    info = await services.store.get_tenant(tenant.id)
    assert info is not None and info.status == "purged"


async def test_purge_deletes_the_tenants_keys_in_redis(
    services: Services, http: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(services, "LU")
    response = await http.post(
        "/graphql",
        json={"query": CREATE_EMPLOYEE, "variables": {"input": employee_input()}},
        headers={"authorization": f"Bearer {tenant.token}", "idempotency-key": "purge-me"},
    )
    assert "errors" not in response.json()
    pattern = f"*{tenant.id}*"
    assert [k async for k in services.redis.scan_iter(match=pattern)]  # the kept answer
    lc = services.lifecycle()  # as the CLI and the gateway's purge task make it
    assert isinstance(lc, MongoLifecycle)
    lc._settle = dt.timedelta(0)
    await lc.terminate(tenant.id, CLI, retention_days=0)
    await lc.purge(tenant.id, CLI)
    assert [k async for k in services.redis.scan_iter(match=pattern)] == []
