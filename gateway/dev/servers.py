"""The servers of a local stack, each a :class:`ChildProcess` on a loopback port: FerretDB
(one per region, on SQLite, its own data directory) and Redis, for ``enclave dev``, the
tests and the benchmarks; and ``enclave serve`` itself, for tests and benchmarks that run
gateways as separate processes. ``scripts/bootstrap`` installs the binaries; this module
only finds and runs them.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from gateway.dev.processes import ChildProcess, free_port

__all__ = ["PROJECT_ROOT", "LocalStack", "enclave_serve", "ferretdb", "find_binary", "redis_server"]

#: Where ``uv run`` finds this project.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def find_binary(name: str) -> str:
    """*name* on PATH, in Go's bin folder, or in the project's tool cache."""
    env = os.environ.get(f"ENCLAVE_{name.upper().replace('-', '_')}_BIN")
    candidates: list[str | None] = [env, shutil.which(name)]
    gopath = os.environ.get("GOPATH") or str(Path.home() / "go")
    candidates += [str(Path(gopath) / "bin" / name), str(Path.home() / ".cache/enclave/bin" / name)]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError(f"{name} not found: run scripts/bootstrap first")


def ferretdb(region: str, root: Path, port: int, binary: str | None = None) -> ChildProcess:
    """FerretDB on SQLite for *region*: the project's build unless *binary* names another."""
    data, state = root / f"ferretdb-{region}" / "data", root / f"ferretdb-{region}" / "state"
    data.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    argv = [
        binary or find_binary("ferretdb"),
        "--handler=sqlite",
        f"--sqlite-url=file:{data}/",
        f"--listen-addr=127.0.0.1:{port}",
        f"--state-dir={state}",
        "--telemetry=disable",
        "--debug-addr=-",
        "--log-level=warn",
    ]
    return ChildProcess(f"ferretdb-{region}", argv, port, root / "logs" / f"ferretdb-{region}.log")


def redis_server(root: Path, port: int) -> ChildProcess:
    """Redis without persistence."""
    argv = [
        find_binary("redis-server"),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "yes",
    ]
    return ChildProcess("redis", argv, port, root / "logs" / "redis.log")


def enclave_serve(name: str, log_path: Path, port: int | None = None) -> ChildProcess:
    """``enclave serve`` (through ``uv run``) on *port* (default: a free one), ready once it
    answers ``/healthz``; its settings come from the environment it is spawned with."""
    port = port or free_port()
    argv = ["uv", "run", "--frozen", "enclave", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return ChildProcess(name, argv, port, log_path, health_path="/healthz", cwd=PROJECT_ROOT)


@dataclass
class LocalStack:
    """FerretDB for EU and US, and Redis, under one folder."""

    root: Path
    eu: ChildProcess
    us: ChildProcess
    redis: ChildProcess

    @classmethod
    def create(cls, root: Path, ports: tuple[int, int, int] | None = None) -> LocalStack:
        eu_port, us_port, redis_port = ports or (free_port(), free_port(), free_port())
        return cls(
            root,
            ferretdb("eu", root, eu_port),
            ferretdb("us", root, us_port),
            redis_server(root, redis_port),
        )

    def servers(self) -> list[ChildProcess]:
        return [self.eu, self.us, self.redis]

    def start(self) -> None:
        try:
            for server in self.servers():
                server.start(timeout=30.0)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for server in self.servers():
            server.stop()

    def uri(self, region: str) -> str:
        server = self.eu if region == "eu" else self.us
        return f"mongodb://127.0.0.1:{server.port}/"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis.port}/0"
