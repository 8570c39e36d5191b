"""``enclave serve``: the gateway under uvicorn, with settings from the environment."""

from __future__ import annotations

import logging.config
import signal
from typing import Annotated, Any

import typer

from gateway.cli.base import settings
from gateway.settings import Settings, check_proxies

__all__ = ["proxy_options", "serve"]


def proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for the trusted proxies: forwarded headers are believed only from
    them (and from nobody when there are none)."""
    if not settings.forwarded_allow_ips:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": list(settings.forwarded_allow_ips)}


def _stopped(signum: int, frame: object) -> None:
    raise SystemExit(0)


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

    config = settings()
    if forwarded_allow_ips is not None:
        proxies = [p.strip() for p in forwarded_allow_ips.split(",") if p.strip()]
        try:
            config = config.model_copy(update={"forwarded_allow_ips": check_proxies(proxies)})
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
        create_app(config),
        host=host,
        port=port,
        log_config=log_config(),
        access_log=False,
        **proxy_options(config),
        timeout_graceful_shutdown=config.shutdown_grace_seconds,
    )
