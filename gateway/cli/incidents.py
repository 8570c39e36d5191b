"""``enclave incidents``: platform operators open a breach incident for a tenant (e.g. its
database was exposed) that the tenant's admins then see and handle with ``incidents``.

Opening one reads no tenant data: only the tenant's control record (is it active), then one
incident is written through the tenant's audited write path (actor ``operator``), so it is
in the tenant's own log. The nature is the operator's text, kept encrypted under the
tenant's key like the incident's other free text. The command prints ids and times only.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gateway.cli.base import echo_json, run, with_store
from schema.errors import BadUserInputError, NotFoundError
from schema.incidents import utc_time
from storage.incidentvalues import Compromised
from storage.values import OPERATOR

if TYPE_CHECKING:
    from storage.base import Store

__all__ = ["incidents"]

incidents = typer.Typer(help="Breach incidents of tenants (platform operators).")


def _when(value: str | None, option: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        raise BadUserInputError(f"{option} is not an ISO 8601 time", field=option) from None
    return utc_time(at, option)


async def open_platform_incident(
    store: Store,
    tenant_id: str,
    nature: str,
    since: dt.datetime,
    until: dt.datetime | None = None,
    detected_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Open a platform incident for *tenant_id*; what the command prints."""
    info = await store.get_tenant(tenant_id)
    if info is None:
        raise NotFoundError("no tenant with this id")
    if info.status not in ("active", "suspended"):
        raise BadUserInputError(f"the tenant is {info.status}", field="tenant")
    if not 1 <= len(nature.strip()) <= 10_000:
        raise BadUserInputError("describe the nature of the breach", field="nature")
    made = await store.for_tenant(tenant_id).incidents.open(
        [Compromised("platform")],
        since,
        until,
        OPERATOR,
        origin="operator",
        nature=nature.strip(),
        detected_at=detected_at,
    )
    return {
        "tenant": tenant_id,
        "incident": made.id,
        "state": made.state,
        "detectedAt": made.detected_at.isoformat(),
        "deadline": made.deadline.isoformat(),
    }


@incidents.command("open")
def open_incident(
    tenant: Annotated[str, typer.Option(help="The tenant id (eu_… or us_…).")],
    nature: Annotated[str, typer.Option(help="What happened (shown to the tenant's admins).")],
    since: Annotated[str, typer.Option(help="Start of the exposure (ISO 8601, UTC if no zone).")],
    until: Annotated[str | None, typer.Option(help="End of the exposure, if over.")] = None,
    detected_at: Annotated[
        str | None, typer.Option(help="When it became known (default now): starts 72 hours.")
    ] = None,
) -> None:
    """Open a platform incident for a tenant; audited in the tenant's log."""

    async def go(store: Store) -> dict[str, Any]:
        start = _when(since, "since")
        assert start is not None
        return await open_platform_incident(
            store, tenant, nature, start, _when(until, "until"), _when(detected_at, "detectedAt")
        )

    echo_json(run(with_store(go)))
