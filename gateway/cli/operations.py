"""``enclave operations``: a platform operator registers a tenant's GraphQL documents and
switches its allow-list mode (gateway.persisted), through the audited write path.

Gateways see a change of mode within ``ENCLAVE_POLICY_RECHECK_SECONDS``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated

import typer
from graphql import GraphQLError, parse

from gateway.cli.base import open_services, run
from gateway.storeddocuments import check_storable
from schema.errors import BadUserInputError
from storage.values import OPERATOR

__all__ = ["operations"]

operations = typer.Typer(
    help="Persisted operations and allow-list mode of a tenant (platform operators).",
    no_args_is_help=True,
)


@operations.command("allow-list")
def allow_list(
    tenant: Annotated[str, typer.Option(help="The tenant id.")],
    enabled: Annotated[bool, typer.Option("--on/--off", help="Turn allow-list mode on or off.")],
) -> None:
    """Run only registered operations in the tenant (--on), or any (--off)."""

    async def go() -> None:
        async with open_services() as services:
            await services.store.for_tenant(tenant).operations.set_allow_list(enabled, OPERATOR)

    run(go())
    typer.echo(json.dumps({"tenant": tenant, "allowList": enabled}))


@operations.command("register")
def register(
    tenant: Annotated[str, typer.Option(help="The tenant id.")],
    document: Annotated[Path, typer.Argument(help="A file holding one GraphQL document.")],
) -> None:
    """Register a GraphQL document for the tenant; prints its SHA-256."""
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

    async def go() -> bool:
        async with open_services() as services:
            store = services.store.for_tenant(tenant).operations
            return await store.register(digest, text, OPERATOR)

    added = run(go())
    typer.echo(json.dumps({"tenant": tenant, "sha256Hash": digest, "registered": added}))
