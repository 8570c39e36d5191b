"""The ``enclave`` command line: serve, run locally, manage keys and tenants."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from gateway.operations_cli import operations
from gateway.settings import Settings
from regions.catalog import write_local_master_key
from schema.errors import EnclaveError
from storage.signing import generate_seal_key_file

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    help="Enclave: a GraphQL gateway for personal-data records.", no_args_is_help=True
)
tenants = typer.Typer(help="Create and list tenants (platform operators).", no_args_is_help=True)
keys = typer.Typer(help="Local master keys for development.", no_args_is_help=True)
app.add_typer(tenants, name="tenants")
app.add_typer(keys, name="keys")


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Run the gateway with settings from the environment."""
    import uvicorn

    from gateway.app import create_app

    uvicorn.run(
        create_app(_settings()), host=host, port=port, log_level="info", proxy_headers=False
    )


@app.command()
def dev(
    state: Annotated[Path, typer.Option(help="Folder for local data, keys and logs.")] = Path(
        ".enclave"
    ),
    port: Annotated[int, typer.Option(help="Gateway port.")] = 8000,
) -> None:
    """Start everything locally: FerretDB for EU and US, Redis, demo tenants, the gateway."""
    from gateway.devrun import run_dev

    run_dev(state.resolve(), port)


@keys.command("init")
def keys_init(
    directory: Annotated[Path, typer.Option("--dir", help="Where to write the keys.")] = Path(
        ".enclave/keys"
    ),
) -> None:
    """Write a random 96-byte local master key per region and an Ed25519 audit seal key
    (mode 0600); never overwrites."""
    for region in ("eu", "us"):
        path = directory / f"{region}-master.key"
        made = write_local_master_key(path)
        typer.echo(f"{'created' if made else 'kept existing'} {path}")
    seal = directory / "audit-seal.pem"
    typer.echo(f"{'created' if generate_seal_key_file(seal) else 'kept existing'} {seal}")


@tenants.command("create")
def tenants_create(
    name: Annotated[str, typer.Option(help="The client organisation's name.")],
    country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2 code; decides the region.")],
    admin_email: Annotated[str, typer.Option(help="Email of the tenant's first admin.")],
) -> None:
    """Provision a tenant in its country's region and print its id and an admin token."""
    from gateway.services import Services

    async def run() -> None:
        services = Services.from_settings(_settings())
        try:
            info, admin = await services.store.create_tenant(name, country, admin_email)
            token = services.tokens.issue(info.id, admin.id, admin.roles)
        finally:
            await services.aclose()
        typer.echo(
            json.dumps(
                {
                    "tenant": info.id,
                    "region": info.region,
                    "adminUser": admin.id,
                    "adminToken": token,
                },
                indent=2,
            )
        )

    _run(run())


@tenants.command("list")
def tenants_list() -> None:
    """Every tenant of every region: id, region, country, status, name. No personal data."""
    from gateway.services import Services

    async def run() -> None:
        services = Services.from_settings(_settings())
        try:
            for t in await services.store.list_tenants():
                typer.echo(f"{t.id}\t{t.region}\t{t.country}\t{t.status}\t{t.name}")
        finally:
            await services.aclose()

    _run(run())


audit = typer.Typer(help="Seal and verify tenants' audit logs.", no_args_is_help=True)
app.add_typer(audit, name="audit")
app.add_typer(operations, name="operations")


@audit.command("verify")
def audit_verify(
    tenant: Annotated[str, typer.Option(help="The tenant id.")],
    seal: Annotated[bool, typer.Option(help="Seal settled entries first.")] = False,
) -> None:
    """Recompute a tenant's audit chain; exit 1 naming the first entry that does not match."""
    from gateway.services import Services

    async def run() -> bool:
        settings = _settings()
        services = Services.from_settings(settings)
        try:
            store = services.store.for_tenant(tenant)
            if seal:
                await store.seal_audit(settings.seal_key())
            report = await store.verify_audit(settings.seal_key())
        finally:
            await services.aclose()
        typer.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "entries": report.entries,
                    "sealedThrough": report.sealed_through,
                    "unsealed": report.unsealed,
                    "firstBad": report.first_bad,
                    "reason": report.reason,
                },
                indent=2,
            )
        )
        return report.ok

    if not _run(run()):
        raise typer.Exit(1)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except (ValueError, OSError) as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None
    except EnclaveError as exc:
        typer.echo(f"error ({exc.code}): {exc.message}", err=True)
        raise typer.Exit(1) from None


def main() -> None:
    app()
