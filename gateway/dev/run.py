"""``enclave dev``: the whole stack on this machine, for trying Enclave out.

Starts FerretDB for each region and Redis (unless ``ENCLAVE_EU__MONGODB_URI``,
``ENCLAVE_US__MONGODB_URI`` and ``ENCLAVE_REDIS_URL`` all point at servers of your own; one
that is set is used instead of its local server), generates local master keys and a JWT
secret under the state folder, creates a demo tenant per region once (its admin with a
password for the console), prints the sign-in and an admin token for each, and serves the
gateway and its console in this process until interrupted. The servers are stopped on the
way out, and get SIGTERM if this process is killed (``gateway.dev.processes``).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

from gateway.dev.servers import LocalStack
from gateway.services import Services
from gateway.settings import Settings
from regions.catalog import RegionConfig, write_local_master_key
from schema.datasheets import datasheet
from schema.errors import EnclaveError
from storage.signing import generate_seal_key_file
from storage.values import OPERATOR, Actor

__all__ = ["run_dev"]

DEV_PORTS = (27117, 27217, 6479)
DEMO = {
    "eu": ("Demo GmbH", "DE", "admin@demo-eu.example"),
    "us": ("Demo Inc.", "US", "admin@demo-us.example"),
}


def _secret_file(path: Path) -> Path:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, secrets.token_urlsafe(48).encode())
        os.close(fd)
    return path


def _seal_key(path: Path) -> Path:
    generate_seal_key_file(path)
    return path


def dev_settings(state: Path, stack: LocalStack | None) -> Settings:
    regions: dict[str, RegionConfig] = {}
    for region in ("eu", "us"):
        key = state / "keys" / f"{region}-master.key"
        write_local_master_key(key)
        uri = os.environ.get(f"ENCLAVE_{region.upper()}__MONGODB_URI") or (
            stack.uri(region) if stack else ""
        )
        regions[region] = RegionConfig(mongodb_uri=uri, local_master_key_file=key)
    redis_url = os.environ.get("ENCLAVE_REDIS_URL") or (stack.redis_url if stack else "")
    return Settings(
        eu=regions["eu"],
        us=regions["us"],
        redis_url=redis_url,
        jwt_secret_file=_secret_file(state / "jwt-secret"),
        audit_seal_key_file=_seal_key(state / "keys" / "audit-seal.pem"),
        sessionless_tokens=True,  # the demo tokens it prints are minted, not signed in
    )


async def _seed(services: Services, tenant_id: str, admin_id: str) -> None:
    store = services.store.for_tenant(tenant_id)
    actor = Actor(user_id=admin_id, roles=("admin",))
    people = [
        ("Ada", "Lovelace", "Engineering"),
        ("Grace", "Hopper", "Engineering"),
        ("Alan", "Turing", "Research"),
        ("Katherine", "Johnson", "Sales"),
    ]
    for first, last, dept in people:
        await store.records.create(
            datasheet("employees"),
            {
                "firstName": first,
                "lastName": last,
                "status": "ACTIVE",
                "department": dept,
                "workEmail": f"{first.lower()}.{last.lower()}@demo.example",
                "jobTitle": "Engineer",
                "salary": 70000,
            },
            actor,
        )


async def _demo_password(services: Services, entry: dict[str, Any]) -> None:
    """A random password for the demo admin, to sign in to the console with; kept in the
    state folder (mode 0700) beside the demo's other secrets."""
    password = secrets.token_urlsafe(12)
    await services.signin.set_password(entry["tenant"], entry["admin"], password, OPERATOR)
    entry["password"] = password


async def ensure_demo_tenants(services: Services, state: Path) -> dict[str, Any]:
    path = state / "demo.json"
    demo: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    for region, (name, country, email) in DEMO.items():
        known = demo.get(region)
        if known and await services.store.get_tenant(known["tenant"]) is not None:
            if not known.get("password"):  # made before the console had a sign-in
                await _demo_password(services, known)
            continue
        info, admin = await services.store.create_tenant(name, country, email)
        await _seed(services, info.id, admin.id)
        demo[region] = {"tenant": info.id, "admin": admin.id}
        await _demo_password(services, demo[region])
    path.write_text(json.dumps(demo, indent=2))
    return demo


def run_dev(state: Path, port: int) -> None:
    import uvicorn

    from gateway.app import create_app

    # uvicorn re-raises SIGTERM after its graceful shutdown; make that an exit that runs
    # the `finally` below, so the servers started here are stopped by their process groups.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    external = all(
        os.environ.get(v)
        for v in ("ENCLAVE_EU__MONGODB_URI", "ENCLAVE_US__MONGODB_URI", "ENCLAVE_REDIS_URL")
    )
    stack = None if external else LocalStack.create(state, DEV_PORTS)
    if stack:
        print(
            f"starting FerretDB (EU :{stack.eu.port}, US :{stack.us.port}) and Redis "
            f":{stack.redis.port} under {state}",
            flush=True,
        )
        stack.start()
    try:
        settings = dev_settings(state, stack)

        async def prepare() -> dict[str, Any]:
            services = Services.from_settings(settings)
            try:
                demo = await ensure_demo_tenants(services, state)
                for entry in demo.values():
                    entry["token"] = services.tokens.issue(
                        entry["tenant"], entry["admin"], ["admin"]
                    )
                return demo
            finally:
                await services.aclose()

        try:
            demo = asyncio.run(prepare())
        except EnclaveError as exc:
            raise SystemExit(f"could not prepare demo tenants: {exc.message}") from None
        print(f"\nConsole (and GraphiQL in it): http://127.0.0.1:{port}/console")
        for region, entry in demo.items():
            print(
                f"\n{region.upper()} demo tenant {entry['tenant']} — console sign-in "
                f"{DEMO[region][2]} / {entry['password']}; admin token "
                f"(send as 'Authorization: Bearer <token>'):\n{entry['token']}"
            )
        print(flush=True)
        uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="info")
    finally:
        if stack:
            stack.stop()
