"""Abusive documents are refused before execution with a clear error, and CORS is opt-in."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from graphql import parse

from gateway.app import create_app
from gateway.settings import Settings
from resolvers.limits import estimate_cost
from tests.support.client import GraphQLClient, Tenant


def test_cost_counts_each_field_per_object_and_lists_by_page_size() -> None:
    doc = parse("query($n: Int) { employees(first: $n) { nodes { id lastName } } me { id } }")
    cost = estimate_cost(
        doc, None, {"n": 200}, default_page=50, page_fields=frozenset({"employees"})
    )
    # employees 1, nodes 200, id and lastName 2 x 200, me 1, me.id 1
    assert cost == 1 + 200 + 400 + 1 + 1
    default = estimate_cost(
        parse("{ employees { nodes { id } } }"),
        None,
        {},
        default_page=50,
        page_fields=frozenset({"employees"}),
    )
    assert default == 1 + 50 + 50
    fragment = parse(
        "{ employees(first: 10) { ...F } } fragment F on EmployeeConnection { nodes { id } }"
    )
    assert (
        estimate_cost(fragment, None, {}, default_page=50, page_fields=frozenset({"employees"}))
        == 1 + 10 + 10
    )


@pytest.mark.parametrize(
    ("document", "what"),
    [
        ("{ " + " ".join(f"a{i}: me {{ id }}" for i in range(31)) + " }", "alias"),
        (
            "{ "
            + " ".join(
                f"e{i}: employees(first: 500) {{ nodes {{ id firstName lastName "
                f"workEmail phone address jobTitle department status }} }}"
                for i in range(25)
            )
            + " }",
            "cost",
        ),
        ("{ me { id " + "id " * 2500 + "} }", "token"),
    ],
)
async def test_abusive_documents_are_refused(eu: GraphQLClient, document: str, what: str) -> None:
    body = await eu(document)
    assert body.get("data") is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body["errors"][0]
    assert what in body["errors"][0]["message"].lower()


@pytest.fixture
async def strict_http(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    strict = settings.model_copy(
        update={
            "cors_origins": ["https://app.example"],
            "introspection": False,
            "graphiql": False,
            "max_depth": 2,
        }
    )
    app = create_app(strict, background=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50001))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


async def test_production_switches(strict_http: httpx.AsyncClient, eu_tenant: Tenant) -> None:
    preflight = await strict_http.options(
        "/graphql",
        headers={
            "origin": "https://app.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization,content-type",
        },
    )
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    other = await strict_http.options(
        "/graphql",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in other.headers
    client = GraphQLClient(strict_http, eu_tenant.token)
    body = await client('{ __type(name: "Employee") { fields { name } } }')
    assert body.get("data") is None and body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    deep = await client("{ employees { edges { node { id } } } }")
    assert deep.get("data") is None and "depth" in deep["errors"][0]["message"]
    assert deep["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    page = await strict_http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 405  # no GraphiQL page: a GET is no API call either


async def test_default_has_no_cors(http: httpx.AsyncClient) -> None:
    response = await http.options(
        "/graphql",
        headers={"origin": "https://app.example", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in response.headers
