"""Gateway processes for tests: ``enclave serve`` in a child process on a free loopback port,
with the ``ENCLAVE_`` environment built from the session's settings, stopped by its
process group."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from gateway.dev.processes import ChildProcess
from gateway.dev.servers import enclave_serve
from gateway.settings import Settings

__all__ = ["gateway_env", "running_gateways"]


def gateway_env(settings: Settings, **extra: str) -> dict[str, str]:
    """This process's environment with the ``ENCLAVE_`` settings of *settings*, plus *extra*
    (for instance ``ENCLAVE_POLICY_RECHECK_SECONDS``). Other ``ENCLAVE_`` variables of this
    process are left out, so only what is set here configures the child."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}
    return {**env, **settings.to_env(), **extra}


@contextlib.contextmanager
def running_gateways(
    names: Sequence[str], env: Mapping[str, str], logs: Path, timeout: float = 60.0
) -> Iterator[list[ChildProcess]]:
    """Start one gateway per name (all at once), wait until each answers ``/healthz``, and
    stop every one of them on the way out, whatever happened."""
    gateways = [enclave_serve(n, logs / f"gateway-{n}.log") for n in names]
    try:
        for gw in gateways:
            gw.spawn(env)
        deadline = time.monotonic() + timeout
        waiting = list(gateways)
        while waiting:
            waiting = [gw for gw in waiting if not gw.ready()]
            if waiting and time.monotonic() > deadline:
                tails = "\n".join(f"--- {gw.name}\n{gw.log_tail()}" for gw in waiting)
                raise RuntimeError(f"gateways not healthy after {timeout:.0f}s:\n{tails}")
            if waiting:
                time.sleep(0.1)
        yield gateways
    finally:
        for gw in gateways:
            gw.stop()
