"""The servers of a reliability benchmark: FerretDB (EU, US) and Redis in a temporary
folder, and several ``enclave serve`` children on loopback ports, all stopped by PID when
the benchmark's ``ExitStack`` closes; plus tenants with admin tokens, and ``/metrics``."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.support.stack import child_env, started_stack
from bench.support.workload import LoadTenant
from gateway.dev.processes import ChildProcess
from gateway.dev.servers import enclave_serve
from gateway.services import Services
from gateway.settings import Settings

__all__ = ["make_tenants", "requests_counted", "start_cluster"]

#: The benchmarks measure throughput, not the per-caller limits (tested on their own).
NO_RATE_LIMITS = {"ENCLAVE_RATE_LIMIT_PER_PRINCIPAL": "0", "ENCLAVE_RATE_LIMIT_PER_TENANT": "0"}


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def start_cluster(
    root: Path, cleanup: contextlib.ExitStack, gateways: int
) -> tuple[Settings, list[ChildProcess]]:
    """Start the servers and *gateways* gateway processes; the settings to reach them."""
    settings = started_stack(root, cleanup)
    env = child_env(settings, **NO_RATE_LIMITS)
    children = []
    for index in range(gateways):
        child = enclave_serve(f"gateway-{index}", root / "logs" / f"gw-{index}.log")
        cleanup.callback(child.stop)
        _say(f"starting gateway {index} on :{child.port}")
        child.start(env)
        children.append(child)
    return settings, children


async def make_tenants(
    services: Services, per_region: int, concurrency: int = 8
) -> list[LoadTenant]:
    """*per_region* tenants in each region (DE and US), made *concurrency* at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int, country: str) -> LoadTenant:
        async with gate:
            info, admin = await services.store.create_tenant(
                f"Load {country} {index}", country, f"admin{index}@load-{country.lower()}.example"
            )
        return LoadTenant(info.id, services.tokens.issue(info.id, admin.id, ["admin"]), admin.id)

    jobs = [one(i, c) for i in range(per_region) for c in ("DE", "US")]
    return list(await asyncio.gather(*jobs))


async def requests_counted(urls: Sequence[str]) -> int:
    """``enclave_requests_total`` summed over the gateways' ``/metrics``."""
    total = 0.0
    async with httpx.AsyncClient(timeout=10.0) as client:
        for url in urls:
            text = (await client.get(f"{url}/metrics")).text
            for family in text_string_to_metric_families(text):
                total += sum(s.value for s in family.samples if s.name == "enclave_requests_total")
    return int(total)
