"""Creating roles, users and API keys through the admin API."""

from __future__ import annotations

from typing import Any

from gateway.services import Services
from tests.support.client import GraphQLClient, Tenant

CREATE_API_KEY = """mutation($role: String!) { createApiKey(name: "ETL", role: $role) {
  key apiKey { id role revoked lastUsedAt } } }"""
CREATE_ROLE = "mutation($input: RoleInput!) { createRole(input: $input) { name version } }"
CREATE_USER = """
mutation($email: String!, $roles: [String!]!, $export: Boolean!) {
  createUser(email: $email, roles: $roles, canExport: $export) { id version roles canExport }
}
"""


async def make_role(admin: GraphQLClient, name: str, **employees: Any) -> dict[str, Any]:
    sheets = [{"datasheet": "employees", **employees}] if employees else []
    data = await admin.ok(CREATE_ROLE, {"input": {"name": name, "sheets": sheets}})
    role: dict[str, Any] = data["createRole"]
    return role


async def make_user(
    admin: GraphQLClient,
    services: Services,
    tenant: Tenant,
    email: str,
    roles: list[str],
    *,
    can_export: bool = False,
) -> tuple[GraphQLClient, dict[str, Any]]:
    data = await admin.ok(CREATE_USER, {"email": email, "roles": roles, "export": can_export})
    user: dict[str, Any] = data["createUser"]
    token = services.tokens.issue(tenant.id, user["id"], roles)
    return GraphQLClient(admin.http, token), user
