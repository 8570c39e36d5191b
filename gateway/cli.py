"""The ``enclave`` command line: serve, run locally, manage keys and tenants."""

from __future__ import annotations

import asyncio
import json
import logging.config
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from gateway.lifecycle_cli import register_lifecycle
from gateway.operations_cli import operations
from gateway.settings import Settings, check_proxies
from gateway.setup_cli import admin_address, issue_setup_code, register_setup
from regions.catalog import write_local_master_key
from schema.errors import EnclaveError
from storage.auditmac import SignedHead
from storage.signing import generate_seal_key_file

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    help="Enclave: a GraphQL gateway for personal-data records.", no_args_is_help=True
)
tenants = typer.Typer(
    help="Tenants and their lifecycle (platform operators).", no_args_is_help=True
)
keys = typer.Typer(help="Local master keys for development.", no_args_is_help=True)
app.add_typer(tenants, name="tenants")
app.add_typer(keys, name="keys")


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None


def proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for the trusted proxies: forwarded headers are believed only from
    them (and from nobody when there are none)."""
    if not settings.forwarded_allow_ips:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": list(settings.forwarded_allow_ips)}


def _stopped(signum: int, frame: object) -> None:
    raise SystemExit(0)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated proxy addresses or networks whose X-Forwarded-For is "
            "believed (default: ENCLAVE_FORWARDED_ALLOW_IPS; none). Never *."
        ),
    ] = None,
) -> None:
    """Run the gateway with settings from the environment."""
    import uvicorn

    from gateway.app import create_app
    from gateway.logs import log_config

    settings = _settings()
    if forwarded_allow_ips is not None:
        proxies = [p.strip() for p in forwarded_allow_ips.split(",") if p.strip()]
        try:
            settings = settings.model_copy(update={"forwarded_allow_ips": check_proxies(proxies)})
        except ValueError as exc:
            typer.echo(f"configuration error: {exc}", err=True)
            raise typer.Exit(2) from None
    # On SIGTERM uvicorn stops accepting, lets in-flight requests finish (at most the grace
    # period), then runs the lifespan's shutdown, which flushes and closes everything; then
    # it raises the signal again, which lands here: a stop that was asked for is exit 0.
    signal.signal(signal.SIGTERM, _stopped)
    # JSON logging already while the app is built (it logs which crypto libmongocrypt runs on);
    # uvicorn applies the same configuration again.
    logging.config.dictConfig(log_config())
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=log_config(),
        access_log=False,
        **proxy_options(settings),
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
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
    """Provision a tenant in its country's region and print its id and a one-time setup code
    for its first admin (no token: the operator never holds a tenant's credentials)."""
    from gateway.services import Services

    async def run() -> None:
        services = Services.from_settings(_settings())
        try:
            address = admin_address(admin_email)
            info, admin = await services.store.create_tenant(name, country, address)
            code = await issue_setup_code(services, info.id, admin.id)
        finally:
            await services.aclose()
        out = {"tenant": info.id, "region": info.region, "adminUser": admin.id, **code}
        typer.echo(json.dumps(out, indent=2))

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


def _read_heads(path: Path) -> list[SignedHead]:
    """Signed heads from *path*: JSON lines, as ``enclave audit heads`` writes them."""
    heads = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                heads.append(SignedHead.from_json(json.loads(line)))
            except (json.JSONDecodeError, ValueError, TypeError):
                raise ValueError(f"{path}:{number} is not a signed audit head") from None
    return heads


@audit.command("verify")
def audit_verify(
    tenant: Annotated[str, typer.Option(help="The tenant id.")],
    seal: Annotated[bool, typer.Option(help="Seal settled entries first.")] = False,
    heads: Annotated[
        Path | None,
        typer.Option(help="Signed heads kept outside the database (`enclave audit heads`)."),
    ] = None,
) -> None:
    """Check a tenant's audit log (every entry's MAC, the chain, its checkpoints, and the
    heads gateways keep in Redis and those in --heads); exit 1 naming the first entry that
    does not match."""
    from gateway.services import Services

    async def run() -> bool:
        settings = _settings()
        given = _read_heads(heads) if heads is not None else []
        services = Services.from_settings(settings)
        try:
            store = services.store.for_tenant(tenant)
            known = await services.heads.known(tenant)
            if seal:
                await store.seals.seal(settings.seal_key(), known)
            report = await store.seals.verify(settings.seal_key(), [*known, *given])
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


@audit.command("heads")
def audit_heads(
    tenant: Annotated[
        list[str] | None, typer.Option(help="A tenant id (repeatable); default: every tenant.")
    ] = None,
) -> None:
    """Print the signed head of each tenant's last checkpoint, one JSON line each, after
    verifying its log; append them to a file kept outside the databases, and check against
    it later with `enclave audit verify --heads FILE`. Exit 1 if a log does not verify."""
    from gateway.services import KEPT, Services

    async def run() -> bool:
        settings = _settings()
        key = settings.seal_key()
        services = Services.from_settings(settings)
        ok = True
        try:
            ids = tenant or [t.id for t in await services.store.list_tenants() if t.status in KEPT]
            for tenant_id in ids:
                store = services.store.for_tenant(tenant_id)
                known = await services.heads.known(tenant_id)
                report = await store.seals.verify(key, known)
                head = await store.seals.head(key) if report.ok else None
                if not report.ok:
                    ok = False
                    typer.echo(f"{tenant_id}: entry {report.first_bad}: {report.reason}", err=True)
                elif head is not None:
                    typer.echo(json.dumps({"tenant": tenant_id, **head.to_json()}))
        finally:
            await services.aclose()
        return ok

    if not _run(run()):
        raise typer.Exit(1)


@app.command("export")
def export(
    datasheet: Annotated[str, typer.Argument(help="employees, contacts or applicants.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    url: Annotated[str, typer.Option(help="The gateway's base URL.")] = "http://127.0.0.1:8000",
    api_key: Annotated[
        str, typer.Option(envvar="ENCLAVE_API_KEY", help="An API key whose export is on.")
    ] = "",
    fmt: Annotated[str, typer.Option("--format", help="ndjson or csv.")] = "ndjson",
    filters: Annotated[
        list[str] | None, typer.Option("--filter", help="field=value (equality); repeatable.")
    ] = None,
    fields: Annotated[
        list[str] | None, typer.Option("--field", help="Only these fields; repeatable.")
    ] = None,
    include_archived: Annotated[bool, typer.Option(help="Archived records too.")] = False,
    resume: Annotated[bool, typer.Option(help="Continue a partial output file.")] = False,
    retries: Annotated[int, typer.Option(help="Resume at most this often.")] = 5,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Pull an export through the gateway's HTTP API, resuming where it broke off."""
    import httpx

    from gateway.exportclient import ExportClient, ExportError

    if fmt not in ("ndjson", "csv") or not api_key:
        typer.echo("--format is ndjson or csv, and an API key is needed", err=True)
        raise typer.Exit(2)
    pairs = [f.partition("=") for f in filters or ()]
    # A big export's first bytes can take a while (the server may sort it first).
    with httpx.Client(base_url=url, timeout=httpx.Timeout(30.0, read=600.0)) as client:
        exporter = ExportClient(
            client,
            api_key,
            datasheet,
            fmt,
            {k: v for k, _, v in pairs},
            fields,
            include_archived,
            retries,
        )
        try:
            count = exporter.run(output, resume=resume, progress=progress)
        except ExportError as exc:
            typer.echo(f"export failed: {exc}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"{count} records written to {output}", err=True)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except (ValueError, OSError) as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None
    except EnclaveError as exc:
        typer.echo(f"error ({exc.code}): {exc.message}", err=True)
        raise typer.Exit(1) from None


register_lifecycle(tenants, keys, _run, _settings)
register_setup(tenants, _run, _settings)


def main() -> None:
    app()
