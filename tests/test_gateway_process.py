"""A real ``enclave serve`` process: its log is JSON lines with request ids and no personal
data, and SIGTERM lets a request in flight finish before the process exits with status 0."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from gateway.services import Services
from gateway.settings import Settings
from regions.routing import database_name
from storage.mongo.decryption import tenant_scope
from storage.mongo.store import MongoStore
from tests.support.client import GraphQLClient, make_tenant
from tests.support.employees import CREATE_EMPLOYEE, employee_input, marker
from tests.support.gateways import gateway_env, running_gateways

WAIT = 30.0


def _log_lines(path: Path) -> list[dict[str, Any]]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is one JSON object


async def test_the_log_is_json_with_request_ids_and_no_personal_data(
    services: Services, settings: Settings, tmp_path: Path
) -> None:
    tenant = await make_tenant(services, "DE", "Logging Org")
    secrets = {
        "firstName": marker("Firstname"),
        "lastName": marker("Surname"),
        "workEmail": f"{marker('mail')}@example.com",
        "nationalId": marker("NID"),
        "phone": "+49 30 " + marker("tel"),
    }
    password = marker("Password") + "-long-enough"
    with running_gateways(["logs"], gateway_env(settings), tmp_path) as gateways:
        gateway = gateways[0]
        async with httpx.AsyncClient(base_url=gateway.url, timeout=WAIT) as http:
            client = GraphQLClient(http, tenant.token)
            ids = []
            made = await client.raw(CREATE_EMPLOYEE, {"input": employee_input(**secrets)})
            ids.append(made.headers["x-request-id"])
            record = made.json()["data"]["createEmployee"]["id"]
            # Values in the document, in variables of the wrong type, and in filters.
            name = secrets["lastName"]
            literal = f'{{ employees(filter: {{lastName: "{name}"}}) {{ nodes {{ id }} }} }}'
            ids.append((await client.raw(literal)).headers["x-request-id"])
            wrong = await client.raw(CREATE_EMPLOYEE, {"input": {"salary": secrets["nationalId"]}})
            ids.append(wrong.headers["x-request-id"])
            await client.raw(
                "mutation($id: ID!, $i: EmployeeUpdateInput!) { updateEmployee(id: $id, "
                "expectedVersion: 7, input: $i) { id } }",
                {"id": record, "i": {"workEmail": secrets["workEmail"]}},
            )
            # Credentials: a forged token, a sign-in with a password.
            forged = GraphQLClient(http, tenant.token[:-4] + "AAAA")
            assert (await forged.raw("{ me { id } }")).status_code == 401
            await http.post(
                "/graphql",
                json={
                    "query": "mutation($t: String!, $e: String!, $p: String!) { login(tenant: $t,"
                    " email: $e, password: $p) { accessToken } }",
                    "variables": {"t": tenant.id, "e": secrets["workEmail"], "p": password},
                },
            )
        gateway.stop()
        lines = _log_lines(gateway.log_path)

    text = gateway.log_path.read_text()
    for value in [*secrets.values(), password, tenant.token, tenant.token[:-4] + "AAAA"]:
        assert value not in text, value
    # No client addresses either (the only address is the one the gateway listens on).
    assert all(
        "127.0.0.1" not in json.dumps(line) for line in lines if "running on" not in line["message"]
    )
    requests = [line for line in lines if line.get("message") == "request"]
    assert {line["request_id"] for line in requests} >= set(ids)
    by_id = {line["request_id"]: line for line in requests}
    assert by_id[ids[0]]["operation"] == "mutation:createEmployee"
    assert by_id[ids[0]]["region"] == "eu" and by_id[ids[0]]["status"] == 200
    assert by_id[ids[2]]["codes"] == ["BAD_USER_INPUT"]
    signin = [line for line in requests if line["operation"] == "mutation:login"]
    assert len(signin) == 1 and signin[0]["region"] == "none"
    assert all({"time", "level", "logger"} <= line.keys() for line in lines)


async def _slow_body(first: bytes, rest: bytes, go_on: asyncio.Event) -> AsyncIterator[bytes]:
    yield first
    await go_on.wait()
    yield rest


def _accepting(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


async def test_sigterm_finishes_the_request_in_flight_then_exits_0(
    services: Services, settings: Settings, tmp_path: Path
) -> None:
    tenant = await make_tenant(services, "US", "Shutdown Org")
    values = employee_input()
    body = json.dumps({"query": CREATE_EMPLOYEE, "variables": {"input": values}}).encode()
    with running_gateways(["shutdown"], gateway_env(settings), tmp_path) as gateways:
        gateway = gateways[0]
        assert gateway.process is not None
        process = gateway.process
        go_on = asyncio.Event()
        async with httpx.AsyncClient(base_url=gateway.url, timeout=WAIT) as http:
            # Headers and half the body are sent: the request is in flight in the gateway.
            pending = asyncio.create_task(
                http.post(
                    "/graphql",
                    content=_slow_body(body[:40], body[40:], go_on),
                    headers={
                        "authorization": f"Bearer {tenant.token}",
                        "content-type": "application/json",
                    },
                )
            )
            await asyncio.sleep(0.5)
            assert not pending.done()
            # As `docker stop` does: SIGTERM to the main process (uv, which passes it on).
            os.kill(process.pid, signal.SIGTERM)
            deadline = time.monotonic() + WAIT
            while _accepting(gateway.port):  # it stops listening, with our request open
                assert time.monotonic() < deadline, "the gateway kept listening after SIGTERM"
                await asyncio.sleep(0.05)
            assert process.poll() is None and not pending.done()
            go_on.set()
            response = await pending
        assert response.status_code == 200, response.text
        made = response.json()["data"]["createEmployee"]
        assert made["lastName"] == values["lastName"]
        assert process.wait(WAIT) == 0
    db = MongoStore.of(services.store).registry["us"].data[database_name(tenant.id)]
    with tenant_scope(tenant.id):
        stored = await db["employees"].find_one({"_id": made["id"]})
    assert stored is not None and stored["lastName"] == values["lastName"]
