"""Gateway processes for tests: ``enclave serve`` in a child process on a free loopback port,
with the ``ENCLAVE_`` environment built from the session's settings, stopped by its PID."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from gateway.devservers import free_port
from gateway.processgroups import group_running, signal_group, stop_group
from gateway.settings import Settings
from tests.conftest import project_root

__all__ = ["GatewayProcess", "gateway_env", "running_gateways"]


def gateway_env(settings: Settings, **extra: str) -> dict[str, str]:
    """This process's environment with the ``ENCLAVE_`` settings of *settings*, plus *extra*
    (for instance ``ENCLAVE_POLICY_RECHECK_SECONDS``). Other ``ENCLAVE_`` variables of this
    process are left out, so only what is set here configures the child."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}
    for region, config in settings.regions().items():
        prefix = f"ENCLAVE_{region.upper()}__"
        env[prefix + "MONGODB_URI"] = config.mongodb_uri.get_secret_value()
        env[prefix + "LOCAL_MASTER_KEY_FILE"] = str(config.local_master_key_file)
        env[prefix + "SERVER_SELECTION_TIMEOUT_MS"] = str(config.server_selection_timeout_ms)
    env["ENCLAVE_REDIS_URL"] = settings.redis_url.get_secret_value()
    assert settings.jwt_secret is not None
    env["ENCLAVE_JWT_SECRET"] = settings.jwt_secret.get_secret_value()
    env["ENCLAVE_SESSIONLESS_TOKENS"] = str(settings.sessionless_tokens).lower()
    if settings.audit_seal_key_file is not None:
        env["ENCLAVE_AUDIT_SEAL_KEY_FILE"] = str(settings.audit_seal_key_file)
    env.update(extra)
    return env


@dataclass
class GatewayProcess:
    """One ``enclave serve`` child in its own session (process group)."""

    name: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self, env: Mapping[str, str]) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        argv = [
            "uv",
            "run",
            "--frozen",
            "enclave",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                argv,
                cwd=project_root(),
                env=dict(env),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def healthy(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group our child leads (``uv run`` and the gateway it runs),
        then SIGKILL whatever is left after *timeout*."""
        process, self.process = self.process, None
        if process is not None:
            stop_group(process, timeout)

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL the whole process group at once, as a crash would end it (no shutdown code
        runs), and wait until none of it runs any more; ``stop`` does nothing afterwards."""
        process, self.process = self.process, None
        if process is None:
            return
        signal_group(process.pid, signal.SIGKILL)
        process.wait(timeout)
        deadline = time.monotonic() + timeout
        while group_running(process.pid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: process group {process.pid} outlived SIGKILL")
            time.sleep(0.01)


@contextlib.contextmanager
def running_gateways(
    names: Sequence[str], env: Mapping[str, str], logs: Path, timeout: float = 60.0
) -> Iterator[list[GatewayProcess]]:
    """Start one gateway per name (all at once), wait until each answers ``/healthz``, and
    stop every one of them on the way out, whatever happened."""
    gateways = [GatewayProcess(n, free_port(), logs / f"gateway-{n}.log") for n in names]
    try:
        for gw in gateways:
            gw.spawn(env)
        deadline = time.monotonic() + timeout
        waiting = list(gateways)
        while waiting:
            waiting = [gw for gw in waiting if not gw.healthy()]
            if waiting and time.monotonic() > deadline:
                tails = "\n".join(f"--- {gw.name}\n{gw.log_tail()}" for gw in waiting)
                raise RuntimeError(f"gateways not healthy after {timeout:.0f}s:\n{tails}")
            if waiting:
                time.sleep(0.1)
        yield gateways
    finally:
        for gw in gateways:
            gw.stop()
