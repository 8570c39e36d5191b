"""``enclave export`` against a gateway process, through a proxy that cuts the download."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from gateway.dev.processes import ChildProcess
from gateway.dev.servers import PROJECT_ROOT
from gateway.services import Services
from gateway.settings import Settings
from tests.support.client import GraphQLClient
from tests.support.employees import create_employee, marker
from tests.support.gateways import gateway_env, running_gateways
from tests.support.roles import make_role

RECORDS = 40


class CuttingProxy:
    """A TCP proxy on loopback that closes the first connection carrying an export download
    once *cut_after* bytes of the answer went through: a real broken connection."""

    def __init__(self, upstream: int, cut_after: int) -> None:
        self.upstream = upstream
        self.cut_after = cut_after
        self.cuts = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()

    def serve(self) -> None:
        self._server.settimeout(0.2)
        try:
            while not self._stop.is_set():
                try:
                    client, _ = self._server.accept()
                except TimeoutError:
                    continue
                threading.Thread(target=self._connection, args=(client,), daemon=True).start()
        finally:
            self._server.close()

    def _connection(self, client: socket.socket) -> None:
        server = socket.create_connection(("127.0.0.1", self.upstream))
        state = {"exporting": False, "sent": 0}

        def upstream() -> None:
            with contextlib.suppress(OSError):
                while data := client.recv(65536):
                    if b"GET /exports/" in data and self.cuts == 0:
                        state["exporting"] = True
                    server.sendall(data)
            with contextlib.suppress(OSError):
                server.shutdown(socket.SHUT_WR)

        threading.Thread(target=upstream, daemon=True).start()
        with contextlib.suppress(OSError):
            while data := server.recv(65536):
                if state["exporting"] and self.cuts == 0:
                    room = self.cut_after - state["sent"]
                    if len(data) >= room:
                        client.sendall(data[:room])
                        self.cuts += 1
                        break
                    state["sent"] += len(data)
                client.sendall(data)
        for sock in (client, server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        """Stop accepting; the serving thread closes the socket."""
        self._stop.set()


@pytest.fixture(scope="module")
def gateway(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    logs = tmp_path_factory.mktemp("export-cli")
    with running_gateways(["export"], gateway_env(settings), logs) as gateways:
        gw: ChildProcess = gateways[0]
        yield gw.url


async def _api_key(http: httpx.AsyncClient, services: Services) -> tuple[str, list[str], str]:
    info, admin_user = await services.store.create_tenant("CLI Org", "NL", "admin@cli.example")
    admin = GraphQLClient(http, services.tokens.issue(info.id, admin_user.id, ["admin"]))
    dept = marker("Cli")
    ids = []
    for index in range(RECORDS):
        # Quotes and a line break inside a cell: CSV rows that span lines.
        name = f'Name "{index}"\nsecond line' if index % 7 == 0 else f"Name{index}"
        ids.append((await create_employee(admin, firstName=name, department=dept))["id"])
    await make_role(admin, "cli-export", read=["firstName", "lastName", "department"], export=True)
    created = await admin.ok(
        'mutation { createApiKey(name: "cli", role: "cli-export", canExport: true) { key } }'
    )
    return created["createApiKey"]["key"], ids, dept


def _no_settings() -> dict[str, str]:
    """The CLI needs no gateway settings: only the URL and the key."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}


def _cli(base: str, key: str, output: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = ["uv", "run", "--frozen", "enclave", "export", "employees", "-o", str(output)]
    argv += ["--url", base, "--no-progress", *args]
    return subprocess.run(
        argv,
        cwd=PROJECT_ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")},
            "ENCLAVE_API_KEY": key,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_cli_resumes_a_cut_download_and_a_partial_file(
    http: httpx.AsyncClient, services: Services, gateway: str, tmp_path: Path
) -> None:
    key, ids, dept = await _api_key(http, services)
    port = int(gateway.rsplit(":", 1)[1])
    proxy = CuttingProxy(port, cut_after=3000)
    thread = threading.Thread(target=proxy.serve, daemon=True)
    thread.start()
    try:
        output = tmp_path / "employees.ndjson"
        done = _cli(f"http://127.0.0.1:{proxy.port}", key, output, "--filter", f"department={dept}")
    finally:
        proxy.close()
        thread.join(5)
    assert done.returncode == 0, done.stderr
    assert proxy.cuts == 1 and "resuming" in done.stderr
    rows = [orjson.loads(line) for line in output.read_bytes().splitlines()]
    assert [r["id"] for r in rows] == ids  # each once, in order, none lost
    assert rows[0]["firstName"] == 'Name "0"\nsecond line'
    assert output.stat().st_mode & 0o077 == 0  # nobody else may read it

    # CSV, interrupted by hand: a file cut inside a multi-line row is continued after the
    # last whole row, and ends up as a whole download would.
    whole = tmp_path / "whole.csv"
    assert (
        _cli(gateway, key, whole, "--format", "csv", "--filter", f"department={dept}").returncode
        == 0
    )
    partial = tmp_path / "partial.csv"
    text = whole.read_bytes()
    cut = text.index(b"second line", text.index(b"second line") + 1)
    partial.write_bytes(text[:cut])
    refused = _cli(gateway, key, partial, "--format", "csv")
    assert refused.returncode == 1 and "--resume" in refused.stderr
    resumed = _cli(
        gateway, key, partial, "--format", "csv", "--resume", "--filter", f"department={dept}"
    )
    assert resumed.returncode == 0, resumed.stderr
    assert partial.read_bytes() == text
    table = list(csv.reader(io.StringIO(text.decode())))
    assert [row[0] for row in table[1:]] == ids


def test_cli_refuses_without_export_permission(gateway: str, tmp_path: Path) -> None:
    done = _cli(
        gateway,
        "enk_eu_01AAAAAAAAAAAAAAAAAAAAAAAA_01AAAAAAAAAAAAAAAAAAAAAAAA_x",
        tmp_path / "x.ndjson",
    )
    assert done.returncode == 1
    assert "UNAUTHENTICATED" in done.stderr
    assert not (tmp_path / "x.ndjson").exists()
