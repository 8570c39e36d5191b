"""Operators are blind: no command of the CLI and no credential an operator has gets a
tenant's records through the gateway. Each path is tried with records holding values
unique to this run, which must appear in no output. The one way in an operator has is
``tenants reset-admin-code`` (a code that replaces an admin's password), and that is in the
tenant's own audit log for its admins to see."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import jwt
import typer.main

from gateway.app import create_app
from gateway.cli import app as cli_app
from gateway.services import Services
from gateway.settings import Settings
from storage.values import OPERATOR
from tests.support.client import GraphQLClient, make_tenant
from tests.support.employees import create_employee, marker
from tests.support.operator import enclave, eventually

#: Every command of ``enclave``. A new one must be checked for what it prints before it
#: is added here: none may read records from the databases (there is no dump or query
#: command). ``export`` is an HTTP client of the gateway like any integrator's: it needs an
#: API key that a tenant's admin made, and gets only what that key's role may export.
COMMANDS = {
    "export",
    "serve",
    "dev",
    "keys init",
    "keys new-local",
    "keys status",
    "keys rotate",
    "keys seal-documents",  # counts per tenant; audited in each tenant's log
    "tenants create",  # prints a one-time setup code for the first admin, no token
    "tenants reset-admin-code",  # a new code: audited in the tenant's own log
    "tenants list",
    "tenants show",
    "tenants suspend",
    "tenants resume",
    "tenants terminate",
    "tenants restore",
    "tenants retention",
    "tenants purge",
    "tenants purge-due",
    "audit verify",
    "audit heads",  # signed chain heads: sequence numbers and hashes
    "operations register",  # stores a document; runs nothing
    "operations allow-list",
    "incidents open",  # writes a platform incident (ids, times); audited in the tenant's log
}
READ_ALL = "query { employees(first: 100) { nodes { id firstName lastName workEmail } } }"


def _commands(group: Any, prefix: str = "") -> set[str]:
    found: set[str] = set()
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer vendors its own click)
            found |= _commands(command, f"{prefix}{name} ")
        else:
            found.add(f"{prefix}{name}")
    return found


def test_the_cli_has_no_command_that_reads_records() -> None:
    root = typer.main.get_command(cli_app)
    assert _commands(root) == COMMANDS


async def test_no_operator_path_shows_a_record(
    settings: Settings, services: Services, http: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(services, "DK")
    admin = GraphQLClient(http, tenant.token)
    secrets = []
    for _ in range(3):
        record = await create_employee(
            admin,
            firstName=marker("first"),
            lastName=marker("last"),
            workEmail=f"{marker('mail')}@example.com",
        )
        secrets += [record["firstName"], record["lastName"], record["workEmail"]]
    # The values are there, for the tenant's own admin.
    assert secrets[0] in str(await admin.ok(READ_ALL))
    second = await admin.ok(
        'mutation { createUser(email: "second@blind.example", roles: ["admin"]) { id } }'
    )

    outputs: list[str] = []
    for args in (
        ("tenants", "list"),
        ("tenants", "show", tenant.id),
        ("tenants", "retention", tenant.id, "--days", "200"),
        ("audit", "verify", "--tenant", tenant.id, "--seal"),
        ("keys", "status"),
        ("tenants", "reset-admin-code", tenant.id, "--admin-email", "second@blind.example"),
        ("tenants", "suspend", tenant.id),
        ("tenants", "resume", tenant.id),
        ("tenants", "terminate", tenant.id),
        ("tenants", "show", tenant.id),
        ("tenants", "purge-due"),
        ("tenants", "restore", tenant.id),
    ):
        done = enclave(settings, *args)
        assert done.returncode in (0, 1), (args, done.stderr)
        outputs.append(done.stdout + done.stderr)
    shown = "\n".join(outputs)
    assert tenant.id in shown
    assert "setupCode" in shown  # the reset worked: it is the one way in an operator has...
    # ... and the tenant's admins see it in their log.
    resets = await admin.ok(
        'query { auditLog(first: 5, filter: {operation: "setup_code"}) '
        "{ nodes { actorKind record } } }"
    )
    assert {"actorKind": "operator", "record": second["createUser"]["id"]} in (
        resets["auditLog"]["nodes"]
    )
    for secret in secrets:
        assert secret not in shown
        assert secret.lower() not in shown.lower()

    # Credentials an operator could make with the gateway's own signing key, for the
    # identity operators act as: no user of the tenant, so it gets nothing.
    for subject in (OPERATOR.user_id,):
        forged = GraphQLClient(http, services.tokens.issue(tenant.id, subject, ["admin"]))
        response = await forged.raw(READ_ALL)
        assert response.status_code == 401, subject
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert not any(secret in response.text for secret in secrets)
    no_key = await http.post(
        "/graphql", json={"query": READ_ALL}, headers={"x-api-key": "enk_operator_guess"}
    )
    assert no_key.status_code == 401
    for path in ("/healthz", "/readyz"):
        answer = await http.get(path)
        assert not any(secret in answer.text for secret in secrets)

    # Restored, the tenant's admin reads the records again: they were kept, not shown.
    async def readable() -> bool:
        response = await admin.raw(READ_ALL)
        return response.status_code == 200 and secrets[0] in response.text

    await eventually(readable)


async def test_by_default_the_signing_secret_alone_lets_nobody_in(
    settings: Settings, services: Services, http: httpx.AsyncClient
) -> None:
    """Outside development every built-in token must come from a sign-in whose session is
    live: one minted with the gateway's own secret, even for a real admin's id, is
    refused. (This suite's shared app accepts minted tokens, as ``enclave dev`` does.)"""
    assert Settings.model_fields["sessionless_tokens"].default is False
    tenant = await make_tenant(services, "NO")
    email = f"blind-{uuid.uuid4().hex[:8]}@example.com"
    password = "correct horse battery staple"
    await GraphQLClient(http, tenant.token).ok(
        'mutation($e: String!, $p: String) { createUser(email: $e, roles: ["admin"], '
        "password: $p) { id } }",
        {"e": email, "p": password},
    )
    strict = create_app(settings.model_copy(update={"sessionless_tokens": False}), background=False)
    async with strict.router.lifespan_context(strict):
        transport = httpx.ASGITransport(app=strict, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            minted = await GraphQLClient(client, tenant.token).raw(READ_ALL)
            assert minted.status_code == 401
            assert minted.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

            login = await client.post(
                "/graphql",
                json={
                    "query": "mutation($t: ID!, $e: String!, $p: String!) { login(tenant: $t, "
                    "email: $e, password: $p) { accessToken } }",
                    "variables": {"t": tenant.id, "e": email, "p": password},
                },
            )
            token = login.json()["data"]["login"]["accessToken"]
            signed_in = GraphQLClient(client, token)
            assert "employees" in await signed_in.ok(READ_ALL)
            # The same claims minted from the secret, without the session: refused.
            claims = jwt.decode(token, options={"verify_signature": False})
            forged = services.tokens.issue(tenant.id, claims["sub"], claims["roles"])
            assert (await GraphQLClient(client, forged).raw(READ_ALL)).status_code == 401
