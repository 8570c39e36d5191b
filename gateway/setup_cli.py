"""Setup codes from the command line: how a tenant's admin gets in without the operator.

``tenants create`` prints a one-time setup code for the first admin instead of a token;
``tenants reset-admin-code`` issues a fresh one (the earlier one stops working). Each code is
an audit event in the tenant's own log (actor: ``operator``), so the tenant's admins
can see every code an operator made; only its hash is stored, and it works once.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gateway.settings import Settings
from storage.values import OPERATOR

if TYPE_CHECKING:
    from gateway.services import Services

__all__ = ["admin_address", "issue_setup_code", "register_setup"]

Run = Callable[[Coroutine[Any, Any, Any]], Any]

tenants = typer.Typer()


class _Hooks:
    run: Run
    settings: Callable[[], Settings]


def register_setup(tenant_group: typer.Typer, run: Run, settings: Callable[[], Settings]) -> None:
    """Add ``reset-admin-code`` to the ``tenants`` group."""
    _Hooks.run = run
    _Hooks.settings = settings
    tenant_group.registered_commands.extend(tenants.registered_commands)


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


@tenants.command("reset-admin-code")
def reset_admin_code(
    tenant: Annotated[str, typer.Argument(help="The tenant id (eu_… or us_…).")],
    admin_email: Annotated[str, typer.Option(help="Email of one of the tenant's admins.")],
) -> None:
    """A fresh one-time setup code for an admin (the earlier one stops working). The admin's
    password is replaced when it is used. Audited in the tenant's log."""
    from gateway.services import Services
    from schema.errors import BadUserInputError, NotFoundError

    async def run() -> dict[str, Any]:
        services = Services.from_settings(_Hooks.settings())
        try:
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
        finally:
            await services.aclose()
        return {"tenant": tenant, "adminUser": found.user_id, **code}

    typer.echo(json.dumps(_Hooks.run(run()), indent=2))
