"""The ``enclave`` command line: serve, run locally, manage keys and tenants.

One module per command or group (``serve``, ``dev``, ``export``; ``tenants``, ``keys``,
``audit``, ``operations``, ``incidents``), each over ``base``: settings from the environment,
running a coroutine with the CLI's exit codes, and opening the services.
"""

from __future__ import annotations

import typer

from gateway.cli.audit import audit
from gateway.cli.dev import dev
from gateway.cli.export import export
from gateway.cli.incidents import incidents
from gateway.cli.keys import keys
from gateway.cli.operations import operations
from gateway.cli.serve import serve
from gateway.cli.tenants import tenants

__all__ = ["app", "main"]

app = typer.Typer(
    help="Enclave: a GraphQL gateway for personal-data records.", no_args_is_help=True
)
app.command()(serve)
app.command()(dev)
app.command("export")(export)
app.add_typer(tenants, name="tenants")
app.add_typer(keys, name="keys")
app.add_typer(audit, name="audit")
app.add_typer(operations, name="operations")
app.add_typer(incidents, name="incidents")


def main() -> None:
    app()
