"""Master-key rotation: every data key of a region is rewrapped under a new master key
while a running gateway keeps serving reads and writes; once the old master key is
retired, a copy of the key vault from before cannot be unwrapped."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.encryption import AsyncClientEncryption
from pymongo.errors import EncryptionError

from gateway.services import Services
from gateway.settings import Settings
from regions.catalog import read_local_master_key, write_local_master_key
from regions.clients import CODEC_OPTIONS, KEY_VAULT_NAMESPACE
from tests.support.client import make_tenant
from tests.support.employees import CREATE_EMPLOYEE, employee_input
from tests.support.gateways import gateway_env, running_gateways
from tests.support.operator import enclave_json
from tests.support.raw import is_ciphertext, plain_client

READ = "query($id: ID!) { employee(id: $id) { id lastName } }"


async def _traffic(url: str, token: str, stop: asyncio.Event) -> tuple[int, list[str]]:
    """Create and read back employees until *stop*; returns (requests, problems)."""
    done, problems = 0, []
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        while not stop.is_set() or done < 4:
            made = await client.post(
                "/graphql",
                json={"query": CREATE_EMPLOYEE, "variables": {"input": employee_input()}},
            )
            body = made.json()
            if "errors" in body:
                problems.append(str(body["errors"]))
                if len(problems) > 20:
                    break
                continue
            record = body["data"]["createEmployee"]
            read = await client.post(
                "/graphql", json={"query": READ, "variables": {"id": record["id"]}}
            )
            got = read.json()
            if "errors" in got or got["data"]["employee"]["lastName"] != record["lastName"]:
                problems.append(str(got))
            done += 2
    return done, problems


def _encryption(
    client: AsyncMongoClient[dict[str, Any]], providers: dict[str, Any], namespace: str
) -> AsyncClientEncryption[dict[str, Any]]:
    return AsyncClientEncryption(providers, namespace, client, CODEC_OPTIONS)


async def test_rotation_without_downtime_then_retire_the_old_key(
    settings: Settings, services: Services, tmp_path: Path
) -> None:
    tenant = await make_tenant(services, "FI")
    key2 = tmp_path / "eu-master-key2.key"
    write_local_master_key(key2)
    both = {
        "ENCLAVE_EU__LOCAL_MASTER_KEY_FILES": json.dumps({"key2": str(key2)}),
        "ENCLAVE_RATE_LIMIT_PER_PRINCIPAL": "0",
        "ENCLAVE_RATE_LIMIT_PER_TENANT": "0",
    }
    raw = plain_client(settings, "eu")
    vault_db, vault_coll = KEY_VAULT_NAMESPACE.split(".", 1)
    backup = raw["rotation_test"]["vault_backup"]
    try:
        # A backup of the key vault, taken before the rotation.
        await backup.drop()
        await backup.insert_many(await raw[vault_db][vault_coll].find().to_list())

        with running_gateways(["rot"], gateway_env(settings, **both), tmp_path) as (gw,):
            stop = asyncio.Event()
            traffic = asyncio.create_task(_traffic(gw.url, tenant.token, stop))
            await asyncio.sleep(1)  # serving before the rotation starts
            report = await asyncio.to_thread(
                enclave_json,
                settings,
                "keys",
                "rotate",
                "--region",
                "eu",
                "--to",
                "local:key2",
                **both,
            )
            # Keep going past the gateway's key cache, so it unwraps the rewrapped key.
            until = time.monotonic() + 2 * settings.eu.key_cache_ms / 1000 + 1
            while time.monotonic() < until:
                await asyncio.sleep(0.2)
            stop.set()
            requests, problems = await traffic
        assert problems == []
        assert requests > 10
        assert report["rewrapped"] == report["before"].get("local", 0) > 0
        assert report["after"] == {"local:key2": report["rewrapped"]}
        status = enclave_json(settings, "keys", "status", **both)
        assert set(status["eu"]) == {"local:key2"}

        # The old master key retired: only key2 is known.
        doc = await raw[f"tenant_{tenant.id}"].employees.find_one()
        assert doc is not None
        value = next(v for v in doc.values() if is_ciphertext(v))
        only_new = {"local:key2": {"key": read_local_master_key(key2)}}
        current = _encryption(raw, only_new, KEY_VAULT_NAMESPACE)
        old_copy = _encryption(raw, only_new, "rotation_test.vault_backup")
        old_copy_old_key = _encryption(
            raw, settings.eu.kms_provider_settings(), "rotation_test.vault_backup"
        )
        try:
            assert await current.decrypt(value)
            with pytest.raises(EncryptionError):
                await old_copy.decrypt(value)
            # (Which is only because the old master key is gone: with it the copy works.)
            assert await old_copy_old_key.decrypt(value) == await current.decrypt(value)
        finally:
            for enc in (current, old_copy, old_copy_old_key):
                await enc.close()
    finally:
        # Back to the suite's master key, which the other tests' processes know.
        back = enclave_json(settings, "keys", "rotate", "--region", "eu", "--to", "local", **both)
        await raw["rotation_test"].drop_collection("vault_backup")
        await raw.close()
    assert set(back["after"]) == {"local"}
