"""``/readyz`` names a dependency that is unavailable, and lets a bug surface as one.

The probes are stand-ins (the real dependencies: tests/test_errors.py, test_faults.py)."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from starlette.applications import Starlette
from starlette.routing import Route

from gateway.endpoints.health import readyz
from schema.errors import RegionUnavailableError


def _app(region_fails: BaseException | None, redis_fails: BaseException | None) -> Starlette:
    async def ping_region(region: str) -> None:
        if region == "us" and region_fails is not None:
            raise region_fails

    async def ping_redis() -> bool:
        if redis_fails is not None:
            raise redis_fails
        return True

    app = Starlette(routes=[Route("/readyz", readyz)])
    app.state.services = SimpleNamespace(
        store=SimpleNamespace(regions=("eu", "us"), ping=ping_region),
        redis=SimpleNamespace(ping=ping_redis),
    )
    return app


async def _ready(app: Starlette) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        return await client.get("/readyz")


@pytest.mark.parametrize(
    ("region", "redis", "checks"),
    [
        (None, None, {"region:eu": "ok", "region:us": "ok", "redis": "ok"}),
        (
            RegionUnavailableError("the US data region is unavailable", region="us"),
            None,
            {"region:eu": "ok", "region:us": "unavailable", "redis": "ok"},
        ),
        (
            None,
            RedisConnectionError(),
            {"region:eu": "ok", "region:us": "ok", "redis": "unavailable"},
        ),
        (
            TimeoutError(),
            OSError(),
            {"region:eu": "ok", "region:us": "unavailable", "redis": "unavailable"},
        ),
    ],
)
async def test_readyz_names_what_is_unavailable(
    region: BaseException | None, redis: BaseException | None, checks: dict[str, str]
) -> None:
    response = await _ready(_app(region, redis))
    ok = all(v == "ok" for v in checks.values())
    assert response.status_code == (200 if ok else 503)
    assert response.json()["checks"] == checks
    assert response.json()["status"] == ("ok" if ok else "degraded")


async def test_readyz_lets_a_bug_surface() -> None:
    with pytest.raises(KeyError):
        await _ready(_app(KeyError("a bug, not an outage"), None))
