"""Background loops (reconcile, seal, purge and prune, the access log) log each failure by
its type, loop and region or tenant, count it in ``/metrics``, and go on."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.dev.servers import LocalStack
from gateway.services import Services
from gateway.settings import Settings
from schema.errors import RegionUnavailableError
from tests.support.client import make_tenant
from tests.support.employees import until_region_back
from tests.support.servers import EXTERNAL

FAILURES = "enclave_background_failures_total"


def _failures(services: Services, loop: str, error: str) -> float:
    value = services.metrics.registry.get_sample_value(FAILURES, {"loop": loop, "error": error})
    return value or 0.0


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "enclave.background"]


async def test_a_sealer_that_lost_its_key_says_so_at_every_pass_and_goes_on(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert settings.audit_seal_key_file is not None
    key = tmp_path / "audit-seal.pem"
    shutil.copy(settings.audit_seal_key_file, key)
    app = create_app(
        settings.model_copy(
            update={
                "audit_seal_key_file": key,
                "audit_seal_interval_seconds": 0.01,
                "purge_interval_seconds": 0,  # not this test's: it would purge shared tenants
            }
        )
    )
    caplog.set_level(logging.WARNING, logger="enclave.background")
    async with app.router.lifespan_context(app):
        services: Services = app.state.services
        key.unlink()  # e.g. a secrets mount gone after start-up
        for _ in range(500):
            if _failures(services, "seal", "FileNotFoundError") >= 3:
                break
            await asyncio.sleep(0.01)
        assert _failures(services, "seal", "FileNotFoundError") >= 3  # so the loop went on
        exposition = services.metrics.exposition().decode()
    assert f'{FAILURES}{{error="FileNotFoundError",loop="seal"}}' in exposition
    line = next(m for m in _lines(caplog) if "seal" in m)
    assert line.startswith("background seal failed: FileNotFoundError at ")
    assert str(tmp_path) not in line  # the type and where it was raised, not its message


@pytest.mark.slow
@pytest.mark.skipif(EXTERNAL, reason="needs servers this test suite started")
async def test_a_region_down_is_logged_and_counted_per_loop_and_the_other_region_served(
    stack: LocalStack | None, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    assert stack is not None
    us_tenant = await make_tenant(services, "US")
    caplog.set_level(logging.WARNING, logger="enclave.background")
    error = RegionUnavailableError.__name__
    before = {loop: _failures(services, loop, error) for loop in ("reconcile", "seal", "prune")}
    stack.eu.stop()
    try:
        await services.reconcile_all()
        await services.seal_all()
        await services.prune_signins()
    finally:
        stack.eu.start()
    for loop, count in before.items():
        assert _failures(services, loop, error) == count + 1
        assert f"background {loop} failed in region eu: {error} (REGION_UNAVAILABLE)" in (
            _lines(caplog)
        )
    assert not any("region us" in line or us_tenant.id in line for line in _lines(caplog))
    await until_region_back(services)


async def test_a_cancelled_loop_stops_even_when_its_step_turns_the_cancellation_into_an_error(
    services: Services,
) -> None:
    # At shutdown a driver may answer the cancellation of its read with its own error (its
    # connection closed under it); counted as one more failed step, the loop would go round
    # again and hold up the shutdown. The step must end the loop instead.
    started = asyncio.Event()

    async def loop() -> None:
        for _ in range(3):  # bounded: a step that swallows cancellation cannot outlive the test
            with services.metrics.background_step("seal"):
                started.set()
                try:
                    await asyncio.sleep(60)
                except asyncio.CancelledError as exc:
                    raise ConnectionResetError("closed") from exc

    before = _failures(services, "seal", "ConnectionResetError")
    task = asyncio.create_task(loop())
    await started.wait()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=10)
    try:
        assert task in done and task.cancelled()
        assert _failures(services, "seal", "ConnectionResetError") == before
    finally:
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1)
