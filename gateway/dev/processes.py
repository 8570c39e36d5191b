"""Child processes for development, tests and benchmarks: a server on a loopback port,
started in a session (process group) of its own, stopped with everything it started.

A child is stopped by its group id, and only the groups started here. On Linux it also
gets SIGTERM when the thread that started it ends, however that ends (``kill -9`` of
``enclave dev``, of a test run or of a benchmark included), so none is left behind; ``uv
run`` passes that SIGTERM on to the program it runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = [
    "ChildProcess",
    "free_port",
    "group_alive",
    "group_running",
    "listening",
    "signal_group",
    "stop_group",
]

_PR_SET_PDEATHSIG = 1

try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # not glibc Linux: children outlive a parent that is killed
    _LIBC = None


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the thread that started it ends."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    """Whether something accepts connections on loopback *port*."""
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def group_alive(pgid: int) -> bool:
    """Whether any member of the group exists (zombies included)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member we may not signal: still there
        return True
    return True


def group_running(pgid: int) -> bool:
    """Whether a member of the group still runs. A zombie does not count: it is dead, only
    not yet reaped by whoever inherited it (which may take a while). Without ``/proc``,
    every member counts."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return group_alive(pgid)
    for stat in proc.glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # exited meanwhile
            continue
        state, _parent, group = text[text.rindex(")") + 2 :].split()[:3]
        if int(group) == pgid and state not in ("Z", "X"):
            return True
    return False


def stop_group(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the group *process* leads, SIGKILL it if the leader lingers past *timeout*,
    then wait (as long again) for what the leader ran to finish shutting down, and SIGKILL
    whatever is left."""
    signal_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        signal_group(process.pid, signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + timeout
    while group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if group_alive(process.pid):
        signal_group(process.pid, signal.SIGKILL)


@dataclass
class ChildProcess:
    """One server: *argv* run in *cwd* in a process group of its own, its output appended to
    *log_path*, ready once *health_path* answers 200 over HTTP on *port* (no *health_path*:
    once the port accepts connections)."""

    name: str
    argv: Sequence[str]
    port: int
    log_path: Path
    health_path: str | None = None
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def spawn(self, env: Mapping[str, str] | None = None) -> None:
        """Start the process (with *env* instead of this process's environment) and return;
        :meth:`ready` tells when it serves."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                list(self.argv),
                cwd=self.cwd,
                env=None if env is None else dict(env),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # one prctl call: safe between fork and exec
            )

    def ready(self) -> bool:
        """Whether it serves; ``RuntimeError`` with its log's end if it has exited."""
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
        if self.health_path is None:
            return listening(self.port)
        try:
            return httpx.get(self.url + self.health_path, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self, env: Mapping[str, str] | None = None, timeout: float = 60.0) -> None:
        """:meth:`spawn`, then wait until it is :meth:`ready`; stopped again if it is not
        within *timeout* seconds."""
        if listening(self.port):
            raise RuntimeError(f"{self.name}: port {self.port} is already in use")
        self.spawn(env)
        deadline = time.monotonic() + timeout
        try:
            while not self.ready():
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self.name} not ready after {timeout:.0f}s:\n{self.log_tail()}"
                    )
                time.sleep(0.05)
        except BaseException:
            self.stop()
            raise

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group (``uv run`` and the program it runs, say), then SIGKILL
        whatever is left after *timeout*."""
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
