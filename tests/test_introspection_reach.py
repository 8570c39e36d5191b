"""Introspection shows a caller only the types they can reach from the root fields they may
use, whatever the shape of the introspection query."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from graphql import build_client_schema, get_introspection_query

from gateway.services import Services
from tests.support.client import GraphQLClient, Tenant, make_tenant
from tests.support.roles import make_role, make_user

ADMIN_ONLY = ["Role", "ApiKey", "ApiKeyCreated", "User", "RoleInput", "RoleDiffType"]
#: Reachable only through startExport, which needs the export permission (admins too).
EXPORT_ONLY = ["ExportJobType", "ExportFilterInput", "ExportFormat"]
TYPE_REF = "fragment T on __Type { name ofType { name ofType { name ofType { name } } } }"
EVERYTHING = (
    "{ __schema { types { name kind interfaces { name } possibleTypes { name } "
    "fields { type { ...T } args { type { ...T } } } inputFields { type { ...T } } } } } "
    + TYPE_REF
)


@pytest.fixture
async def tenant(services: Services) -> Tenant:
    return await make_tenant(services, "DE", "Introspection Org")


@pytest.fixture
def admin(http: httpx.AsyncClient, tenant: Tenant) -> GraphQLClient:
    return GraphQLClient(http, tenant.token)


@pytest.fixture
async def narrow(admin: GraphQLClient, services: Services, tenant: Tenant) -> GraphQLClient:
    name = f"narrow{uuid.uuid4().hex[:6]}"
    await make_role(admin, name, read=["firstName", "lastName"])
    client, _ = await make_user(admin, services, tenant, f"n-{uuid.uuid4().hex[:8]}@ex.com", [name])
    return client


def _named(ref: Mapping[str, Any]) -> str:
    while ref.get("ofType"):
        ref = ref["ofType"]
    return str(ref["name"])


def _referenced(types: list[dict[str, Any]]) -> set[str]:
    names: set[str] = set()
    for t in types:
        names.update(i["name"] for i in t.get("interfaces") or ())
        names.update(p["name"] for p in t.get("possibleTypes") or ())
        for f in (t.get("fields") or []) + (t.get("inputFields") or []):
            names.add(_named(f["type"]))
            names.update(_named(a["type"]) for a in f.get("args") or ())
    return names


async def test_types_a_caller_cannot_reach_are_not_listed(
    admin: GraphQLClient, narrow: GraphQLClient
) -> None:
    full = {t["name"] for t in (await admin.ok(EVERYTHING))["__schema"]["types"]}
    assert set(ADMIN_ONLY) <= full  # they exist, for the admin
    mine = (await narrow.ok(EVERYTHING))["__schema"]["types"]
    names = {t["name"] for t in mine}
    assert "Employee" in names and "__Type" in names
    assert not names & {*ADMIN_ONLY, *EXPORT_ONLY}, names & {*ADMIN_ONLY, *EXPORT_ONLY}
    assert "Contact" not in names  # no grant on contacts at all
    # Closed: every type named anywhere in what the caller sees is listed too.
    assert _referenced(mine) <= names, _referenced(mine) - names


@pytest.mark.parametrize(
    "query",
    [
        '{ __type(name: "{name}") { name fields { name } } }',
        '{ a: __type(name: "{name}") { ...F } } fragment F on __Type { name kind }',
        "query($n: String!) { __type(name: $n) { ... on __Type { name } } }",
        '{ __schema { types { name } } t: __type(name: "{name}") { name } }',
    ],
)
async def test_an_unreachable_type_is_unknown_by_name(
    admin: GraphQLClient, narrow: GraphQLClient, query: str
) -> None:
    for name in [*ADMIN_ONLY, *EXPORT_ONLY, "Contact"]:
        document = query.replace("{name}", name)
        variables = {"n": name} if "$n" in query else None
        mine = await narrow.ok(document, variables)
        found = mine.get("__type") or mine.get("a") or mine.get("t")
        assert found is None, (name, mine)
        if name not in EXPORT_ONLY:
            theirs = await admin.ok(document, variables)
            assert (theirs.get("__type") or theirs.get("a") or theirs.get("t")) is not None


async def test_the_standard_introspection_query_gives_a_consistent_schema(
    narrow: GraphQLClient,
) -> None:
    # GraphiQL's query, rebuilt into a schema: fails if any type it names is left out.
    result = await narrow.ok(get_introspection_query(descriptions=True))
    schema = build_client_schema(result)  # type: ignore[arg-type]
    assert schema.get_type("Employee") is not None and schema.get_type("Role") is None
    assert "createRole" not in (schema.mutation_type.fields if schema.mutation_type else {})
