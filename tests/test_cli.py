"""The operator's command line, run as a new process with settings from the environment."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from gateway.settings import Settings
from tests.conftest import project_root
from tests.raw import plain_client


def _env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    for region, config in settings.regions().items():
        prefix = f"ENCLAVE_{region.upper()}__"
        env[prefix + "MONGODB_URI"] = config.mongodb_uri.get_secret_value()
        env[prefix + "LOCAL_MASTER_KEY_FILE"] = str(config.local_master_key_file)
    env["ENCLAVE_REDIS_URL"] = settings.redis_url.get_secret_value()
    assert settings.jwt_secret is not None
    env["ENCLAVE_JWT_SECRET"] = settings.jwt_secret.get_secret_value()
    return env


def _enclave(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["uv", "run", "--frozen", "enclave", *args],
        env=env,
        cwd=project_root(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_tenants_create_and_list(settings: Settings) -> None:
    env = _env(settings)
    made = _enclave(
        [
            "tenants",
            "create",
            "--name",
            "Acme Ltd",
            "--country",
            "gb",
            "--admin-email",
            "boss@acme.example",
        ],
        env,
    )
    assert made.returncode == 0, made.stderr
    out = json.loads(made.stdout)
    assert out["tenant"].startswith("eu_") and out["region"] == "eu"
    assert out["adminToken"].count(".") == 2

    listed = _enclave(["tenants", "list"], env)
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
    finally:
        await client.close()


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
    result = _enclave(["tenants", "create", *flat, *args], _env(settings))
    assert result.returncode == 1
    assert message in result.stderr


def test_missing_configuration_is_a_clear_error() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}
    result = _enclave(["tenants", "list"], env)
    assert result.returncode == 2
    assert "configuration error" in result.stderr


def test_keys_init_writes_0600_and_never_overwrites(tmp_path: Path) -> None:
    env = dict(os.environ)
    first = _enclave(["keys", "init", "--dir", str(tmp_path)], env)
    assert first.returncode == 0, first.stderr
    key = tmp_path / "eu-master.key"
    content = key.read_bytes()
    assert len(content) == 96
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    second = _enclave(["keys", "init", "--dir", str(tmp_path)], env)
    assert "kept existing" in second.stdout
    assert key.read_bytes() == content
