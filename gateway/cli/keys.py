"""``enclave keys``: local master keys and the audit seal key for development, and rotating
a region's master key (``init``, ``new-local``, ``status``, ``rotate``, ``seal-documents``).

They print paths, key ids and counts, never a key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gateway.cli.base import echo_json, run, with_store
from regions.catalog import write_local_master_key
from storage.signing import generate_seal_key_file
from storage.values import OPERATOR

if TYPE_CHECKING:
    from storage.base import Store

__all__ = ["keys"]

keys = typer.Typer(help="Local master keys for development.", no_args_is_help=True)


@keys.command("init")
def init(
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


@keys.command("new-local")
def new_local(
    region: Annotated[str, typer.Option(help="eu or us.")],
    name: Annotated[str, typer.Option(help="Name of the key: provider local:NAME.")],
    directory: Annotated[Path, typer.Option("--dir")] = Path(".enclave/keys"),
) -> None:
    """Write a new local master key for a rotation (never overwrites)."""
    if not name.isidentifier():
        raise typer.BadParameter("letters, digits and _ only", param_hint="--name")
    path = directory / f"{region}-master-{name}.key"
    made = write_local_master_key(path)
    typer.echo(f"{'created' if made else 'kept existing'} {path}: provider local:{name}")


@keys.command("status")
def status() -> None:
    """How many data keys each master key wraps, per region."""

    async def go(store: Store) -> dict[str, Any]:
        return {name: await store.keys.providers(name) for name in store.regions}

    echo_json(run(with_store(go)))


@keys.command("rotate")
def rotate(
    region: Annotated[str, typer.Option(help="eu or us.")],
    to: Annotated[str, typer.Option(help="The new KMS provider, e.g. local:key2.")],
    master_key: Annotated[
        str | None, typer.Option(help="JSON master_key for a cloud KMS provider.")
    ] = None,
) -> None:
    """Rewrap every data key of a region under a new master key, without downtime."""
    try:
        mk = json.loads(master_key) if master_key else None
    except ValueError:
        raise typer.BadParameter("not JSON", param_hint="--master-key") from None

    async def go(store: Store) -> dict[str, Any]:
        if region not in store.regions:
            raise typer.BadParameter("eu or us", param_hint="--region")
        report = await store.keys.rotate(region, to, mk)
        return {
            "region": report.region,
            "provider": report.provider,
            "rewrapped": report.rewrapped,
            "before": report.before,
            "after": report.after,
        }

    echo_json(run(with_store(go)))


@keys.command("seal-documents")
def seal_documents() -> None:
    """Once, when upgrading: a MAC for every user, role, key, session, setting and control
    record written before they carried one (a document whose MAC fails is left alone).
    Audited in each tenant's log; prints counts per tenant."""

    async def go(store: Store) -> dict[str, Any]:
        return await store.keys.seal_documents(OPERATOR)

    echo_json(run(with_store(go)))
