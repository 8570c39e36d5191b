"""Child processes (gateway.dev.processes): one that is killed leaves no server behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gateway.dev.processes import group_running, listening, signal_group
from gateway.dev.servers import PROJECT_ROOT

PARENT = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from gateway.dev.processes import free_port
    from gateway.dev.servers import redis_server

    server = redis_server(Path(sys.argv[1]), free_port())
    server.start(timeout=30)
    print(server.process.pid, server.port, flush=True)
    sys.stdin.read()  # until killed
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_parent_leaves_no_server(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        pid, port = (int(part) for part in parent.stdout.readline().split())
        assert listening(port)
    finally:
        parent.kill()  # SIGKILL: no code of the parent's runs any more
        parent.wait()
        if parent.stdin is not None:
            parent.stdin.close()
        if parent.stdout is not None:
            parent.stdout.close()
    deadline = time.monotonic() + 30
    while group_running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = group_running(pid)
    signal_group(pid, signal.SIGKILL)  # whatever the outcome, leave nothing behind
    assert not left, "the server outlived the process that started it"
