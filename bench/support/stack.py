"""The servers of a benchmark: FerretDB (EU, US) and Redis in its temporary folder, the
settings that reach them, and the environment of the ``enclave serve`` children it starts
(``gateway.dev.servers.enclave_serve``); all stopped when the benchmark's ``ExitStack``
closes."""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from pathlib import Path

from gateway.dev.servers import LocalStack
from gateway.settings import Settings
from regions.catalog import RegionConfig, write_local_master_key
from storage.signing import generate_seal_key_file

__all__ = ["NO_RATE_LIMITS", "child_env", "make_settings", "started_stack"]

#: The benchmarks measure throughput, not the per-caller limits (tested on their own).
NO_RATE_LIMITS = {"ENCLAVE_RATE_LIMIT_PER_PRINCIPAL": "0", "ENCLAVE_RATE_LIMIT_PER_TENANT": "0"}


def make_settings(root: Path, stack: LocalStack) -> Settings:
    """Settings over *stack*, with new keys under *root* (children get ``to_env()``)."""
    keys = root / "keys"
    regions: dict[str, RegionConfig] = {}
    for region in ("eu", "us"):
        key = keys / f"{region}-master.key"
        write_local_master_key(key)
        regions[region] = RegionConfig(mongodb_uri=stack.uri(region), local_master_key_file=key)
    seal = keys / "audit-seal.pem"
    generate_seal_key_file(seal)  # audit entries are authenticated with a key derived from it
    return Settings(
        eu=regions["eu"],
        us=regions["us"],
        redis_url=stack.redis_url,
        audit_seal_key_file=seal,
        jwt_secret=secrets.token_urlsafe(48),
        sessionless_tokens=True,  # benchmark tokens are minted from the secret, not signed in
    )


def started_stack(root: Path, cleanup: contextlib.ExitStack) -> Settings:
    """FerretDB for each region and Redis under *root*, stopped by *cleanup*; the settings
    of :func:`make_settings`."""
    stack = LocalStack.create(root)
    print(
        f"starting FerretDB (EU :{stack.eu.port}, US :{stack.us.port}) and Redis "
        f":{stack.redis.port} under {root}",
        file=sys.stderr,
        flush=True,
    )
    stack.start()
    cleanup.callback(stack.stop)
    return make_settings(root, stack)


def child_env(settings: Settings, **extra: str) -> dict[str, str]:
    """This process's environment with *settings* as the only ``ENCLAVE_`` ones, and *extra*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}
    return {**env, **settings.to_env(), **extra, "PYTHONUNBUFFERED": "1"}
