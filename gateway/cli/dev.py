"""``enclave dev``: the whole stack on this machine (see ``gateway.dev.run``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["dev"]


def dev(
    state: Annotated[Path, typer.Option(help="Folder for local data, keys and logs.")] = Path(
        ".enclave"
    ),
    port: Annotated[int, typer.Option(help="Gateway port.")] = 8000,
) -> None:
    """Start everything locally: FerretDB for EU and US, Redis, demo tenants, the gateway."""
    from gateway.dev.run import run_dev

    run_dev(state.resolve(), port)
