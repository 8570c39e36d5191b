"""``enclave tenants``: provision tenants, give their admins setup codes, and run their
lifecycle (show, suspend, resume, terminate, restore, retention, purge, purge-due).

They print control data only (ids, states, dates, counts, setup codes), never a tenant's
records: there is no command that reads them. Each state change and each setup code is
audited in the tenant's own log (actor: ``operator``), and a state change also in the
control record's history. A tenant's first admin gets a one-time setup code instead of a
token, so the operator never holds a tenant's credentials; only its hash is stored, and a
fresh one (``reset-admin-code``) stops the earlier one working.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gateway.cli.base import echo_json, open_services, run, with_lifecycle, with_store
from schema.errors import BadUserInputError, NotFoundError
from storage.values import OPERATOR, TenantInfo

if TYPE_CHECKING:
    from gateway.services import Services
    from storage.base import Store
    from storage.contract.lifecycle import TenantLifecycle

__all__ = ["admin_address", "issue_setup_code", "tenants"]

tenants = typer.Typer(
    help="Tenants and their lifecycle (platform operators).", no_args_is_help=True
)
TenantArg = Annotated[str, typer.Argument(help="The tenant id (eu_… or us_…).")]


def admin_address(value: str) -> str:
    """*value* normalised as ``createUser`` stores an address, so that sign-in finds it;
    ``BAD_USER_INPUT`` if it is not one."""
    from resolvers.values import email_address

    return email_address(value)


async def issue_setup_code(services: Services, tenant_id: str, user_id: str) -> dict[str, Any]:
    """A fresh code for *user_id*, as the CLI prints it."""
    ttl = dt.timedelta(hours=services.settings.setup_code_ttl_hours)
    codes = services.store.for_tenant(tenant_id).setup_codes
    code, expires = await codes.issue(user_id, ttl, OPERATOR)
    return {"setupCode": code, "setupCodeExpiresAt": expires.isoformat()}


def _info(t: TenantInfo) -> dict[str, Any]:
    return {
        "tenant": t.id,
        "region": t.region,
        "status": t.status,
        "retentionDays": t.retention_days,
        "terminatedAt": t.terminated_at,
        "purgeDueAt": t.purge_due_at,
        **({"certificate": dict(t.certificate)} if t.certificate else {}),
    }


def _change(action: Callable[[TenantLifecycle], Awaitable[TenantInfo]]) -> None:
    echo_json(_info(run(with_lifecycle(action, announce=True))))


@tenants.command("create")
def create(
    name: Annotated[str, typer.Option(help="The client organisation's name.")],
    country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2 code; decides the region.")],
    admin_email: Annotated[str, typer.Option(help="Email of the tenant's first admin.")],
) -> None:
    """Provision a tenant in its country's region and print its id and a one-time setup code
    for its first admin (no token: the operator never holds a tenant's credentials)."""

    async def go() -> dict[str, Any]:
        async with open_services() as services:
            address = admin_address(admin_email)
            info, admin = await services.store.create_tenant(name, country, address)
            code = await issue_setup_code(services, info.id, admin.id)
        return {"tenant": info.id, "region": info.region, "adminUser": admin.id, **code}

    typer.echo(json.dumps(run(go()), indent=2))


@tenants.command("list")
def list_() -> None:
    """Every tenant of every region: id, region, country, status, name. No personal data."""

    async def go() -> None:
        async with open_services() as services:
            for t in await services.store.list_tenants():
                typer.echo(f"{t.id}\t{t.region}\t{t.country}\t{t.status}\t{t.name}")

    run(go())


@tenants.command("show")
def show(tenant: TenantArg) -> None:
    """A tenant's control record and the history of its states (no personal data)."""

    async def go(store: Store) -> dict[str, Any]:
        info = await store.get_tenant(tenant)
        if info is None:
            raise NotFoundError("no tenant with this id")
        history = [
            {k: c.get(k) for k in ("action", "from", "to", "at", "actor")}
            for c in await store.lifecycle().history(tenant)
        ]
        return {**_info(info), "name": info.name, "history": history}

    echo_json(run(with_store(go)))


@tenants.command("suspend")
def suspend(tenant: TenantArg) -> None:
    """Lock a tenant out (every request 401); its data is kept as it is."""
    _change(lambda lc: lc.suspend(tenant, OPERATOR))


@tenants.command("resume")
def resume(tenant: TenantArg) -> None:
    """Let a suspended tenant in again."""
    _change(lambda lc: lc.resume(tenant, OPERATOR))


@tenants.command("terminate")
def terminate(
    tenant: TenantArg,
    retention_days: Annotated[
        int | None, typer.Option(help="Days until the purge (default: the tenant's, 180).")
    ] = None,
) -> None:
    """End a tenant: no access; data purged after the retention period."""
    _change(lambda lc: lc.terminate(tenant, OPERATOR, retention_days))


@tenants.command("restore")
def restore(tenant: TenantArg) -> None:
    """Make a terminated tenant active again, before its purge date."""
    _change(lambda lc: lc.restore(tenant, OPERATOR))


@tenants.command("retention")
def retention(
    tenant: TenantArg,
    days: Annotated[int, typer.Option(help="Days a terminated tenant's data is kept.")],
) -> None:
    """Set a tenant's retention period (moves the purge date of a terminated tenant)."""
    _change(lambda lc: lc.set_retention(tenant, days, OPERATOR))


@tenants.command("purge")
def purge(
    tenant: TenantArg,
    now: Annotated[
        bool, typer.Option("--now", help="Purge before the due date (client's request).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Destroy a terminated tenant's data key and database; print the certificate."""
    if not yes:
        typer.confirm(f"Destroy every record and the data key of {tenant}?", abort=True)
    echo_json(run(with_lifecycle(lambda lc: lc.purge(tenant, OPERATOR, before_due=now))))


@tenants.command("purge-due")
def purge_due() -> None:
    """Purge every tenant whose purge is due, and finish interrupted purges. Idempotent,
    safe from cron; exit 1 if any purge failed (a rerun finishes it)."""
    outcomes = run(with_lifecycle(lambda lc: lc.purge_due(OPERATOR)))
    echo_json([{"tenant": o.tenant_id, "outcome": o.outcome} for o in outcomes])
    if any(o.outcome != "purged" for o in outcomes):
        raise typer.Exit(1)


@tenants.command("reset-admin-code")
def reset_admin_code(
    tenant: TenantArg,
    admin_email: Annotated[str, typer.Option(help="Email of one of the tenant's admins.")],
) -> None:
    """A fresh one-time setup code for an admin (the earlier one stops working). The admin's
    password is replaced when it is used. Audited in the tenant's log."""

    async def go() -> dict[str, Any]:
        async with open_services() as services:
            info = await services.store.get_tenant(tenant)
            if info is None:
                raise NotFoundError("no tenant with this id")
            if info.status != "active":
                raise BadUserInputError(f"the tenant is {info.status}", field="tenant")
            creds = services.store.for_tenant(tenant).credentials
            found = await creds.by_email(admin_address(admin_email))
            if found is None or "admin" not in found.roles:
                raise NotFoundError("no admin with this email in this tenant")
            code = await issue_setup_code(services, tenant, found.user_id)
        return {"tenant": tenant, "adminUser": found.user_id, **code}

    typer.echo(json.dumps(run(go()), indent=2))
