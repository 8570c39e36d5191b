"""The operator's command line, run as a new process with settings from the environment."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import stat
from hashlib import sha256
from pathlib import Path

import httpx
import pytest

from gateway.cli.tenants import issue_setup_code
from gateway.services import Services
from gateway.settings import Settings
from tests.support.client import GraphQLClient
from tests.support.gateways import gateway_env
from tests.support.operator import run_enclave
from tests.support.raw import plain_client
from tests.support.signins import activate, refused

#: A JSON Web Token: three base64url parts, the first a JSON object ("{" is "ey").
JWT = re.compile(r"ey[\w-]+\.[\w-]+\.[\w-]+")


async def test_tenants_create_and_list(settings: Settings, http: httpx.AsyncClient) -> None:
    env = gateway_env(settings)
    made = run_enclave(
        [
            "tenants",
            "create",
            "--name",
            "Acme Ltd",
            "--country",
            "gb",
            "--admin-email",
            " Boss@Acme.example",
        ],
        env,
    )
    assert made.returncode == 0, made.stderr
    out = json.loads(made.stdout)
    assert out["tenant"].startswith("eu_") and out["region"] == "eu"
    # No credential for the operator: a one-time code for the client's admin instead.
    assert set(out) == {"tenant", "region", "adminUser", "setupCode", "setupCodeExpiresAt"}
    assert not JWT.search(made.stdout + made.stderr)
    expires = dt.datetime.fromisoformat(out["setupCodeExpiresAt"]) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=71) < expires <= dt.timedelta(hours=72)

    listed = run_enclave(["tenants", "list"], env)
    assert listed.returncode == 0, listed.stderr
    line = next(ln for ln in listed.stdout.splitlines() if ln.startswith(out["tenant"]))
    assert line.split("\t")[1:4] == ["eu", "GB", "active"]
    assert "boss@acme.example" not in listed.stdout

    client = plain_client(settings, "eu")
    try:
        vault = client["encryption"]["__keyVault"]
        assert await vault.count_documents({"keyAltNames": out["tenant"]}) == 1
        users = client[f"tenant_{out['tenant']}"]["users"]
        assert await users.count_documents({}) == 1
        assert await users.count_documents({"passwordHash": {"$exists": True}}) == 0
        codes = await client[f"tenant_{out['tenant']}"]["setup_codes"].find({}).to_list()
        assert [c["_id"] for c in codes] == [sha256(out["setupCode"].encode()).hexdigest()]
    finally:
        await client.close()

    # The code activates once; used again it is refused.
    first = await activate(http, out["tenant"], "boss@acme.example", out["setupCode"])
    assert first["data"]["activateAccount"]["accessToken"]
    again = await activate(http, out["tenant"], "boss@acme.example", out["setupCode"])
    assert refused(again) == "UNAUTHENTICATED"


async def test_reset_admin_code_replaces_the_code_and_is_audited(
    settings: Settings, services: Services, http: httpx.AsyncClient
) -> None:
    info, admin = await services.store.create_tenant("Reset Org", "IE", "it@reset.example")
    old = (await issue_setup_code(services, info.id, admin.id))["setupCode"]
    env = gateway_env(settings)
    args = ["tenants", "reset-admin-code", info.id, "--admin-email", "IT@reset.example"]
    reset = run_enclave(args, env)
    assert reset.returncode == 0, reset.stderr
    out = json.loads(reset.stdout)
    assert out["adminUser"] == admin.id and not JWT.search(reset.stdout)
    assert refused(await activate(http, info.id, "it@reset.example", old)) == "UNAUTHENTICATED"
    session = await activate(http, info.id, "it@reset.example", out["setupCode"])
    me = GraphQLClient(http, session["data"]["activateAccount"]["accessToken"])
    log = await me.ok(
        'query($r: ID) { auditLog(first: 10, filter: {record: $r, operation: "setup_code"}) '
        "{ nodes { actorKind actorId } } }",
        {"r": admin.id},
    )
    # Both codes the operator made are in the tenant's own log.
    assert log["auditLog"]["nodes"] == [{"actorKind": "operator", "actorId": "operator"}] * 2

    nobody = run_enclave([*args[:3], "--admin-email", "nobody@reset.example"], env)
    assert nobody.returncode == 1 and "no admin with this email" in nobody.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--country", "XX"], "unknown country code"),
        (["--country", "DE", "--name", " "], "1 to 200 characters"),
    ],
)
def test_tenants_create_refuses_bad_input(
    settings: Settings, args: list[str], message: str
) -> None:
    base = {"--name": "Org", "--admin-email": "a@example.com"}
    flat = [x for k, v in base.items() if k not in args for x in (k, v)]
    result = run_enclave(["tenants", "create", *flat, *args], gateway_env(settings))
    assert result.returncode == 1
    assert message in result.stderr


def test_missing_configuration_is_a_clear_error() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}
    result = run_enclave(["tenants", "list"], env)
    assert result.returncode == 2
    assert "configuration error" in result.stderr


def test_keys_init_writes_0600_and_never_overwrites(tmp_path: Path) -> None:
    env = dict(os.environ)
    first = run_enclave(["keys", "init", "--dir", str(tmp_path)], env)
    assert first.returncode == 0, first.stderr
    key = tmp_path / "eu-master.key"
    content = key.read_bytes()
    assert len(content) == 96
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    second = run_enclave(["keys", "init", "--dir", str(tmp_path)], env)
    assert "kept existing" in second.stdout
    assert key.read_bytes() == content
