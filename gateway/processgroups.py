"""Stopping a child process together with everything it started: ``uv run`` and the
gateway it runs share a process group of their own (``start_new_session=True``), which
the tests and the benchmarks stop by its id, and only the groups they started."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

__all__ = ["group_alive", "group_running", "signal_group", "stop_group"]


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
