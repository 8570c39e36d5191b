"""``Settings.to_env``: the variables a child process reads back into equal settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.settings import Settings
from regions.catalog import RegionConfig


def _clear_enclave_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("ENCLAVE_")]:
        monkeypatch.delenv(name)


def test_round_trip_through_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = Settings(
        eu=RegionConfig(
            mongodb_uri="mongodb://127.0.0.1:1/?tls=false",
            local_master_key_file=tmp_path / "eu.key",
            local_master_key_files={"key2": tmp_path / "eu-key2.key"},
            data_key_provider="local:key2",
            server_selection_timeout_ms=1500,
        ),
        us=RegionConfig(
            mongodb_uri="mongodb://127.0.0.1:2/",
            kms_provider="aws",
            kms_providers={"aws": {"accessKeyId": "id", "secretAccessKey": "s=cret"}},
            master_key={"region": "us-east-1", "key": "arn:aws:kms:…"},
        ),
        redis_url="redis://127.0.0.1:3/1",
        jwt_secret="s" * 40,
        sessionless_tokens=True,
        rate_limit_per_principal=0,
        policy_recheck_seconds=0.5,
        forwarded_allow_ips=["10.0.0.0/8", "192.0.2.1"],
        cors_origins=["https://app.example"],
        audit_seal_key_file=tmp_path / "seal.pem",
        metrics_token="m" * 20,
        graphiql=False,
    )
    env = settings.to_env()
    assert all(k.startswith("ENCLAVE_") for k in env)
    assert env["ENCLAVE_EU__MONGODB_URI"] == "mongodb://127.0.0.1:1/?tls=false"
    assert "ENCLAVE_MAX_DEPTH" not in env  # defaults are left out
    _clear_enclave_env(monkeypatch)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings() == settings


def test_minimal_settings_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(
        eu=RegionConfig(mongodb_uri="mongodb://a/"),
        us=RegionConfig(mongodb_uri="mongodb://b/"),
        jwt_secret_file=Path("/run/secrets/jwt"),
    )
    _clear_enclave_env(monkeypatch)
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    assert Settings() == settings
