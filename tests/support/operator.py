"""The operator's side in tests: the ``enclave`` CLI as a child process, and waiting for a
gateway to see a tenant's new state (its tenant cache keeps one for up to 5 s)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from gateway.dev.servers import PROJECT_ROOT
from gateway.settings import Settings
from tests.support.gateways import gateway_env

__all__ = ["enclave", "enclave_json", "eventually", "run_enclave"]


def run_enclave(args: Sequence[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """``enclave ARGS`` in a child process with exactly the environment *env*."""
    return subprocess.run(
        ["uv", "run", "--frozen", "enclave", *args],
        env=dict(env),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def enclave(settings: Settings, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """``enclave ARGS`` with *settings* (and *extra_env*) as its environment."""
    return run_enclave(args, gateway_env(settings, **extra_env))


def enclave_json(settings: Settings, *args: str, **extra_env: str) -> Any:
    done = enclave(settings, *args, **extra_env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 90.0) -> None:
    """Wait until *check* holds; fail if it does not within *within* seconds (a bound on
    the wait, not a claim about speed)."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.25)
