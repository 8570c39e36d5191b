"""What every ``enclave`` command shares: settings from the environment, running a coroutine
with the CLI's exit codes, and the services a command opens and closes.

Exit codes: 0 done; 1 the command's own failure (an ``EnclaveError``, a log that does not
verify); 2 a configuration error (settings, a key file, a server that cannot be reached).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from gateway.settings import Settings
from schema.errors import EnclaveError
from storage.values import OPERATOR, TenantInfo

if TYPE_CHECKING:
    from gateway.services import Services
    from storage.base import Store
    from storage.contract.lifecycle import TenantLifecycle

__all__ = [
    "OPERATOR",
    "echo_json",
    "open_services",
    "run",
    "settings",
    "with_lifecycle",
    "with_store",
]

T = TypeVar("T")


def settings() -> Settings:
    """The settings from the ``ENCLAVE_`` environment; exit 2 naming what is wrong."""
    try:
        return Settings()
    except ValueError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run *coro* to its end: exit 2 on a configuration error, 1 on an ``EnclaveError``."""
    try:
        return asyncio.run(coro)
    except (ValueError, OSError) as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None
    except EnclaveError as exc:
        typer.echo(f"error ({exc.code}): {exc.message}", err=True)
        raise typer.Exit(1) from None


@contextlib.asynccontextmanager
async def open_services(given: Settings | None = None) -> AsyncIterator[Services]:
    """The services for *given* settings (default: the environment's), closed on the way out."""
    from gateway.services import Services

    services = Services.from_settings(given or settings())
    try:
        yield services
    finally:
        await services.aclose()


async def with_lifecycle(
    action: Callable[[TenantLifecycle], Awaitable[T]], *, announce: bool = False
) -> T:
    """Run *action*; with *announce*, tell every gateway that the tenant it returns changed
    state (the policy channel), so that none lets it in from its tenant cache meanwhile."""
    async with open_services() as services:
        result = await action(services.lifecycle())
        if announce and isinstance(result, TenantInfo):
            await services.policies.announce(result.id)
        return result


async def with_store(action: Callable[[Store], Awaitable[T]]) -> T:
    """Run *action* on the store (commands that change no tenant's state)."""
    async with open_services() as services:
        return await action(services.store)


def echo_json(value: Any) -> None:
    """*value* as indented JSON on stdout (dates as their ``str``)."""
    typer.echo(json.dumps(value, indent=2, default=str))
