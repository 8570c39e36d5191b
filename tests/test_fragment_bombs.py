"""Documents that expand far beyond their size (fragments spreading each other, inline
fragments, aliases) are refused after one pass linear in their size, and a gateway process
busy refusing them still answers other tenants."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.settings import Settings
from resolvers.docshape import measure
from resolvers.limits import estimate_cost
from tests.support.client import GraphQLClient, Tenant
from tests.support.gateways import gateway_env, running_gateways

WAIT = 30.0


def chain(n: int, width: int = 2, leaf: str = "id", spread: str = "...F{0}") -> str:
    """``{ employees { nodes { ...F0 } } }`` and F0…F(n-1), each spreading the next *width*
    times: 2 + width**n selections once expanded, from a document linear in n."""
    parts = ["{ employees(first: 1) { nodes { ...F0 } } }"]
    for i in range(n):
        parts.append(f"fragment F{i} on Employee {{ {' '.join([spread.format(i + 1)] * width)} }}")
    parts.append(f"fragment F{n} on Employee {{ {leaf} }}")
    return " ".join(parts)


BOMBS = {
    "chain-18": chain(18),
    "chain-30": chain(30),
    # The same chain through inline fragments around each spread, with and without a type.
    "inline": chain(30, spread="... on Employee {{ ...F{0} }} ... {{ ...F{0} }}"),
    # Aliased fields repeated in every fragment of the chain.
    "aliases": chain(24, spread="a: id b: id ...F{0}"),
    # Wide rather than deep: each fragment spreads the next eight times.
    "wide": chain(10, width=8),
    # Directives on every spread do not stop the expansion.
    "directives": chain(30, spread="...F{0} @include(if: true) ...F{0} @skip(if: false)"),
    # Quadratic rather than exponential: graphql-core compares every two fields merged
    # under one name (1 s for this one before the limit on merges).
    "repeated": "{ " + "employees { nodes { id } } " * 250 + "}",
    # Each fragment of a chain compared with every later one (0.14 s of validation).
    "chain-of-ids": chain(140, width=1, spread="id ...F{0}"),
    "side-by-side": "{ employees { nodes { "
    + " ".join(f"...G{i}" for i in range(200))
    + " } } } "
    + " ".join(f"fragment G{i} on Employee {{ id }}" for i in range(200)),
}


def _refused(body: dict[str, Any]) -> bool:
    errors = body.get("errors") or []
    return (
        body.get("data") is None
        and bool(errors)
        and all(e["extensions"]["code"] == "BAD_USER_INPUT" for e in errors)
    )


@pytest.mark.parametrize("name", sorted(BOMBS))
async def test_bombs_are_refused_with_a_code(eu: GraphQLClient, name: str) -> None:
    body = await eu(BOMBS[name])
    assert _refused(body), body
    assert body["errors"][0]["extensions"]["limit"] in ("selections", "aliases", "merges"), body


async def test_a_cycle_is_refused_with_a_code(eu: GraphQLClient) -> None:
    body = await eu(
        "{ employees { nodes { ...A } } } fragment A on Employee { id ...B } "
        "fragment B on Employee { ...A ...A }"
    )
    assert _refused(body), body


async def test_documents_within_the_limits_still_run(eu: GraphQLClient) -> None:
    # A short chain (2**6 spreads of one field) is fine: the limit is on expansion, not
    # on spreading a fragment more than once.
    data = await eu.ok(chain(6))
    assert data["employees"]["nodes"] == [] or "id" in data["employees"]["nodes"][0]
    introspection = await eu.ok('{ __type(name: "Employee") { name fields { name } } }')
    assert introspection["__type"]["name"] == "Employee"


def _naive(document: str) -> tuple[int, int, int]:
    """Fields, selections and aliases by expanding every spread (small documents only)."""
    doc = parse(document)
    fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}

    def walk(node: Any) -> tuple[int, int, int]:
        fields = count = aliases = 0
        for sel in node.selections:
            if sel.kind == "field":
                f, c, a = walk(sel.selection_set) if sel.selection_set else (0, 0, 0)
                fields, count = fields + f + 1, count + c + 1
                aliases += a + (sel.alias is not None)
            else:
                target = fragments[sel.name.value] if sel.kind == "fragment_spread" else sel
                f, c, a = walk(target.selection_set)
                fields, count, aliases = fields + f, count + c + 1, aliases + a
        return fields, count, aliases

    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    return walk(ops[0].selection_set)


@st.composite
def fragment_dags(draw: st.DrawFn) -> str:
    """A random DAG of fragments over Employee: fragment i spreads only fragments j > i."""
    n = draw(st.integers(1, 6))
    fields = ["id", "firstName", "x: lastName", "... on Employee { id }", "... { y: id }"]
    parts = []
    for i in range(n):
        body = draw(st.lists(st.sampled_from(fields), min_size=1, max_size=3))
        spreads = [f"...F{j}" for j in draw(st.lists(st.integers(i + 1, n), max_size=3))]
        parts.append(f"fragment F{i} on Employee {{ {' '.join(body + spreads)} }}")
    parts.append(f"fragment F{n} on Employee {{ id }}")
    return "{ employees { nodes { ...F0 } } } " + " ".join(parts)


@settings(max_examples=60, deadline=None)
@given(fragment_dags())
def test_the_linear_measure_equals_the_expansion(document: str) -> None:
    shapes = measure(parse(document))
    (shape,) = [v for k, v in shapes.items() if isinstance(k, OperationDefinitionNode)]
    fields, selections, aliases = _naive(document)
    assert (shape.selections, shape.aliases) == (selections, aliases)
    # The memoised cost estimate agrees with the expansion: employees costs one, and each
    # field under it (nodes included) once per object of the default page of 7.
    cost = estimate_cost(
        parse(document), None, {}, default_page=7, page_fields=frozenset({"employees"})
    )
    assert cost == 1 + 7 * (fields - 1)


async def _bomb_until(
    http: httpx.AsyncClient,
    token: str,
    stop: asyncio.Event,
    flowing: asyncio.Event,
    replies: list[dict[str, Any]],
) -> None:
    documents = itertools.cycle([BOMBS[n] for n in ("chain-30", "chain-18", "wide", "repeated")])
    for _ in range(150):  # bounded (and under the rate limit): stops once the other is answered
        if stop.is_set():
            return
        response = await http.post(
            "/graphql",
            json={"query": next(documents)},
            headers={"authorization": f"Bearer {token}"},
        )
        replies.append(response.json())
        flowing.set()


async def test_a_gateway_refusing_bombs_still_answers_other_tenants(
    settings: Settings, eu_tenant: Tenant, us_tenant: Tenant, tmp_path: Path
) -> None:
    me_request = {"query": "{ me { id } }"}
    other_auth = {"authorization": f"Bearer {us_tenant.token}"}
    with running_gateways(["bombs"], gateway_env(settings), tmp_path) as gateways:
        url = gateways[0].url
        async with (
            httpx.AsyncClient(base_url=url, timeout=WAIT) as attacker,
            httpx.AsyncClient(base_url=url, timeout=WAIT) as other,
        ):
            warm = await other.post("/graphql", json=me_request, headers=other_auth)
            assert warm.status_code == 200, warm.text
            stop, flowing = asyncio.Event(), asyncio.Event()
            replies: list[dict[str, Any]] = []
            senders = [
                asyncio.create_task(_bomb_until(attacker, eu_tenant.token, stop, flowing, replies))
                for _ in range(3)
            ]
            try:
                # Once bombs are flowing (or after a while, if the gateway is stuck in the
                # first one), the other tenant asks; each sender sends its next bomb at once.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(flowing.wait(), 10)
                me = await other.post("/graphql", json=me_request, headers=other_auth)
                answered_at = len(replies)
                stop.set()
                await asyncio.gather(*senders)
            finally:
                for task in senders:
                    task.cancel()
            assert me.status_code == 200 and me.json()["data"]["me"]["id"] == us_tenant.admin_id
            # The other tenant was answered before the bombs then in flight were: the
            # senders stop only once it was, so bomb replies came after its answer.
            assert len(replies) > answered_at
            assert replies and all(_refused(r) for r in replies), replies[:3]


async def test_anonymous_documents_have_the_same_limits(http: httpx.AsyncClient) -> None:
    # One sign-in per request (a second root field is refused first), but within it the
    # same shape limits as for signed-in callers.
    login = 'login(tenant: "eu_x", email: "a@b.c", password: "p")'
    chain = " ".join(f"fragment F{i} on Session {{ ...F{i + 1} ...F{i + 1} }}" for i in range(30))
    for query, limit in (
        (f"mutation {{ {login} {{ {'accessToken ' * 60}}} }}", "merges"),
        (
            f"mutation {{ {login} {{ ...F0 }} }} {chain} fragment F30 on Session {{ accessToken }}",
            "selections",
        ),
    ):
        response = await http.post("/graphql", json={"query": query})
        body = response.json()
        assert _refused(body), body
        assert body["errors"][0]["extensions"]["limit"] == limit


async def test_an_anonymous_document_is_parsed_no_further_than_the_token_limit(
    http: httpx.AsyncClient,
) -> None:
    # Parsing a 900 KB document took 8 s on the event loop before the limit applied to
    # anonymous requests too: it is refused where the limit is reached.
    query = 'mutation { login(tenant: "x", email: "y", password: "z") { ' + "a " * 5000 + "} }"
    response = await http.post("/graphql", json={"query": query})
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["limit"] == "tokens"


async def test_a_registered_document_is_parsed_no_further_than_the_token_limit(
    eu: GraphQLClient,
) -> None:
    # Parsed in full, a document of the body's size (1 MB) held the event loop for seconds.
    document = "{ me { " + "id " * 3000 + "} }"
    body = await eu("mutation($d: String!) { registerOperation(document: $d) }", {"d": document})
    assert body.get("data") is None, body
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "document"}
