"""``enclave export``: pull an export through the gateway's HTTP API with an API key (the
client side of ``gateway.exports``; see ``gateway.exportclient``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["export"]


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
