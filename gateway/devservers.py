"""Local MongoDB-wire servers (FerretDB, one per region) and Redis, for development and tests.

Each server is a child process on a loopback port with its own data directory. They are
stopped by PID, and only the ones started here. ``scripts/bootstrap`` installs the
binaries; this module only finds and runs them.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DevServer", "LocalStack", "ferretdb", "find_binary", "free_port"]

FERRETDB_VERSION = "v1.24.2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # not glibc Linux
    _LIBC = None


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the process that started it dies, however
    it dies, so a killed ``enclave dev`` or test run leaves no servers behind (Linux)."""
    if _LIBC is not None:
        _LIBC.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class DevServer:
    """One server process on a loopback port."""

    name: str
    argv: list[str]
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, timeout: float = 30.0) -> None:
        if _listening(self.port):
            raise RuntimeError(f"{self.name}: port {self.port} is already in use")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not _listening(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log_path}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"{self.name} did not listen on {self.port}; see {self.log_path}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
        deadline = time.monotonic() + timeout
        while _listening(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def ferretdb(region: str, root: Path, port: int, binary: str | None = None) -> DevServer:
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
    return DevServer(f"ferretdb-{region}", argv, port, root / "logs" / f"ferretdb-{region}.log")


def redis_server(root: Path, port: int) -> DevServer:
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
    return DevServer("redis", argv, port, root / "logs" / "redis.log")


@dataclass
class LocalStack:
    """FerretDB for EU and US, and Redis, under one folder."""

    root: Path
    eu: DevServer
    us: DevServer
    redis: DevServer

    @classmethod
    def create(cls, root: Path, ports: tuple[int, int, int] | None = None) -> LocalStack:
        eu_port, us_port, redis_port = ports or (free_port(), free_port(), free_port())
        return cls(
            root,
            ferretdb("eu", root, eu_port),
            ferretdb("us", root, us_port),
            redis_server(root, redis_port),
        )

    def servers(self) -> list[DevServer]:
        return [self.eu, self.us, self.redis]

    def start(self) -> None:
        try:
            for server in self.servers():
                server.start()
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
