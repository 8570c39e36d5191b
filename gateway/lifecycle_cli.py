"""Operator commands for the tenant lifecycle and master-key rotation.

``enclave tenants show|suspend|resume|terminate|restore|retention|purge|purge-due`` and
``enclave keys new-local|status|rotate|seal-documents``. They print control data only (ids,
states, dates, counts, key ids), never a tenant's records: there is no command that reads
them.
Each state change is audited in the tenant's log (actor: ``operator``) and in the
control record's history.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from gateway.settings import Settings
from regions.catalog import write_local_master_key
from storage.values import OPERATOR, TenantInfo

if TYPE_CHECKING:
    from storage.base import Store
    from storage.contract.lifecycle import TenantLifecycle

__all__ = ["register_lifecycle"]

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, Any]], Any]
TenantArg = Annotated[str, typer.Argument(help="The tenant id (eu_… or us_…).")]


def _echo(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


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


class _Hooks:
    """How the ``enclave`` app runs a coroutine and reads settings (set by registering)."""

    run: Run
    settings: Callable[[], Settings]


tenants = typer.Typer()
keys = typer.Typer()


def register_lifecycle(
    tenant_group: typer.Typer, key_group: typer.Typer, run: Run, settings: Callable[[], Settings]
) -> None:
    """Add the lifecycle commands to the ``tenants`` and ``keys`` groups."""
    _Hooks.run = run
    _Hooks.settings = settings
    tenant_group.registered_commands.extend(tenants.registered_commands)
    key_group.registered_commands.extend(keys.registered_commands)


async def _with_lifecycle(
    action: Callable[[TenantLifecycle], Awaitable[T]], *, announce: bool = False
) -> T:
    """Run *action*; with *announce*, tell every gateway that the tenant it returns changed
    state (the policy channel), so that none lets it in from its tenant cache meanwhile."""
    from gateway.services import Services

    services = Services.from_settings(_Hooks.settings())
    try:
        result = await action(services.lifecycle())
        if announce and isinstance(result, TenantInfo):
            await services.policies.announce(result.id)
        return result
    finally:
        await services.aclose()


async def _with_store(action: Callable[[Store], Awaitable[T]]) -> T:
    """Run *action* on the store (commands that change no tenant's state)."""
    from gateway.services import Services

    services = Services.from_settings(_Hooks.settings())
    try:
        return await action(services.store)
    finally:
        await services.aclose()


def _change(action: Callable[[TenantLifecycle], Awaitable[TenantInfo]]) -> None:
    _echo(_info(_Hooks.run(_with_lifecycle(action, announce=True))))


@tenants.command("show")
def show(tenant: TenantArg) -> None:
    """A tenant's control record and the history of its states (no personal data)."""

    async def go(store: Store) -> dict[str, Any]:
        info = await store.get_tenant(tenant)
        if info is None:
            from schema.errors import NotFoundError

            raise NotFoundError("no tenant with this id")
        history = [
            {k: c.get(k) for k in ("action", "from", "to", "at", "actor")}
            for c in await store.lifecycle().history(tenant)
        ]
        return {**_info(info), "name": info.name, "history": history}

    _echo(_Hooks.run(_with_store(go)))


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
    _echo(_Hooks.run(_with_lifecycle(lambda lc: lc.purge(tenant, OPERATOR, before_due=now))))


@tenants.command("purge-due")
def purge_due() -> None:
    """Purge every tenant whose purge is due, and finish interrupted purges. Idempotent,
    safe from cron; exit 1 if any purge failed (a rerun finishes it)."""
    outcomes = _Hooks.run(_with_lifecycle(lambda lc: lc.purge_due(OPERATOR)))
    _echo([{"tenant": o.tenant_id, "outcome": o.outcome} for o in outcomes])
    if any(o.outcome != "purged" for o in outcomes):
        raise typer.Exit(1)


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

    _echo(_Hooks.run(_with_store(go)))


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

    _echo(_Hooks.run(_with_store(go)))


@keys.command("seal-documents")
def seal_documents() -> None:
    """Once, when upgrading: a MAC for every user, role, key, session, setting and control
    record written before they carried one (a document whose MAC fails is left alone).
    Audited in each tenant's log; prints counts per tenant."""

    async def go(store: Store) -> dict[str, Any]:
        return await store.keys.seal_documents(OPERATOR)

    _echo(_Hooks.run(_with_store(go)))
