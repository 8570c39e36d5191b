"""``enclave audit``: seal and verify tenants' audit logs, and print their signed heads to
keep outside the databases (``verify``, ``heads``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.base import open_services, run, settings
from storage.auditmac import SignedHead

__all__ = ["audit", "read_heads"]

audit = typer.Typer(help="Seal and verify tenants' audit logs.", no_args_is_help=True)


def read_heads(path: Path) -> list[SignedHead]:
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
def verify(
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

    async def go() -> bool:
        config = settings()
        given = read_heads(heads) if heads is not None else []
        async with open_services(config) as services:
            store = services.store.for_tenant(tenant)
            known = await services.heads.known(tenant)
            if seal:
                await store.seals.seal(config.seal_key(), known)
            report = await store.seals.verify(config.seal_key(), [*known, *given])
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

    if not run(go()):
        raise typer.Exit(1)


@audit.command("heads")
def heads(
    tenant: Annotated[
        list[str] | None, typer.Option(help="A tenant id (repeatable); default: every tenant.")
    ] = None,
) -> None:
    """Print the signed head of each tenant's last checkpoint, one JSON line each, after
    verifying its log; append them to a file kept outside the databases, and check against
    it later with `enclave audit verify --heads FILE`. Exit 1 if a log does not verify."""
    from gateway.services import KEPT

    async def go() -> bool:
        config = settings()
        key = config.seal_key()
        ok = True
        async with open_services(config) as services:
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
        return ok

    if not run(go()):
        raise typer.Exit(1)
