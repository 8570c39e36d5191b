"""``enclave operations``: a platform operator registers a tenant's GraphQL documents and
switches its allow-list mode (gateway.persisted), through the audited write path.

Gateways see a change of mode within ``ENCLAVE_POLICY_RECHECK_SECONDS``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from graphql import GraphQLError, parse

from gateway.storeddocuments import check_storable
from schema.errors import BadUserInputError
from storage.values import OPERATOR

if TYPE_CHECKING:
    from gateway.services import Services

__all__ = ["operations"]

operations = typer.Typer(
    help="Persisted operations and allow-list mode of a tenant (platform operators).",
    no_args_is_help=True,
)


def _services() -> Services:
    from gateway.cli import _settings
    from gateway.services import Services

    return Services.from_settings(_settings())


@operations.command("allow-list")
def allow_list(
    tenant: Annotated[str, typer.Option(help="The tenant id.")],
    enabled: Annotated[bool, typer.Option("--on/--off", help="Turn allow-list mode on or off.")],
) -> None:
    """Run only registered operations in the tenant (--on), or any (--off)."""
    from gateway.cli import _run

    async def run() -> None:
        services = _services()
        try:
            await services.store.for_tenant(tenant).operations.set_allow_list(enabled, OPERATOR)
        finally:
            await services.aclose()

    _run(run())
    typer.echo(json.dumps({"tenant": tenant, "allowList": enabled}))


@operations.command("register")
def register(
    tenant: Annotated[str, typer.Option(help="The tenant id.")],
    document: Annotated[Path, typer.Argument(help="A file holding one GraphQL document.")],
) -> None:
    """Register a GraphQL document for the tenant; prints its SHA-256."""
    from gateway.cli import _run

    text = document.read_text()
    try:
        check_storable(text, parse(text), "document")
    except GraphQLError:
        typer.echo("error (BAD_USER_INPUT): the file is not a GraphQL document", err=True)
        raise typer.Exit(1) from None
    except BadUserInputError as exc:
        typer.echo(f"error ({exc.code}): {exc.message}", err=True)
        raise typer.Exit(1) from None
    digest = hashlib.sha256(text.encode()).hexdigest()

    async def run() -> bool:
        services = _services()
        try:
            store = services.store.for_tenant(tenant).operations
            return await store.register(digest, text, OPERATOR)
        finally:
            await services.aclose()

    added = _run(run())
    typer.echo(json.dumps({"tenant": tenant, "sha256Hash": digest, "registered": added}))
