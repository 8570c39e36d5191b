"""``/healthz`` (liveness: the process answers) and ``/readyz`` (each dependency: every
region's cluster and Redis, ``503`` while one is unavailable)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.services import Services
from regions import nativecrypto
from schema.errors import EnclaveError

__all__ = ["healthz", "readyz"]

#: What a probe of an unavailable dependency raises: the store maps driver errors to
#: ``EnclaveError`` (``REGION_UNAVAILABLE`` when it cannot reach a region); Redis raises
#: ``RedisError`` (or ``OSError`` from the socket); ``TimeoutError`` is the probe's deadline.
#: Anything else is a bug, and is left to surface as one.
_UNAVAILABLE = (EnclaveError, RedisError, OSError, TimeoutError)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    services: Services = request.app.state.services
    checks: dict[str, str] = {}

    async def check(name: str, probe: Awaitable[object]) -> None:
        try:
            await asyncio.wait_for(probe, timeout=3.0)
            checks[name] = "ok"
        except _UNAVAILABLE:
            checks[name] = "unavailable"

    await asyncio.gather(
        *(check(f"region:{r}", services.store.ping(r)) for r in services.store.regions),
        check("redis", services.redis.ping()),
    )
    ok = all(v == "ok" for v in checks.values())
    body = {"status": "ok" if ok else "degraded", "checks": checks}
    body["crypto"] = nativecrypto.status().implementation  # informational: stock is correct too
    return JSONResponse(body, status_code=200 if ok else 503)
