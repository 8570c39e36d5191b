"""Every response carries the security headers, whatever answered it, and refusals at the
HTTP layer are JSON GraphQL errors with a code that repeat nothing that was sent."""

from __future__ import annotations

import httpx
import pytest

from tests.support.client import Tenant

HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/healthz", {}),
        ("GET", "/readyz", {}),
        ("GET", "/graphql", {"accept": "text/html"}),  # to the console's GraphiQL
        ("GET", "/metrics", {}),
        ("GET", "/no-such-page", {}),  # Starlette's 404
        ("PUT", "/healthz", {}),  # Starlette's 405
        ("POST", "/graphql", {}),  # no credentials: 401
        ("GET", "/exports/eu_nope/nope", {}),  # a refused download
    ],
)
async def test_every_response_carries_the_security_headers(
    http: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> None:
    response = await http.request(method, path, headers=headers)
    assert {k: response.headers.get(k) for k in HEADERS} == HEADERS, (response.status_code, path)


async def test_graphql_answers_carry_them_once(http: httpx.AsyncClient, eu_tenant: Tenant) -> None:
    response = await http.post(
        "/graphql",
        json={"query": "{ me { id } }"},
        headers={"authorization": f"Bearer {eu_tenant.token}"},
    )
    assert response.status_code == 200
    for name, value in HEADERS.items():
        assert response.headers.get_list(name) == [value]


@pytest.mark.parametrize(
    ("method", "headers", "content", "status"),
    [
        ("POST", {"authorization": "token"}, b'{"query": "{ me { id } }"}', 200),
        ("POST", {}, b'{"query": "{ me { id } }"}', 401),  # no credentials
        ("POST", {"authorization": "Bearer forged"}, b'{"query": "{ me { id } }"}', 401),
        ("POST", {"authorization": "token"}, b"x" * 2_000_000, 413),
        ("GET", {"authorization": "token"}, b"", 405),
        ("GET", {"accept": "text/html"}, b"", 307),  # to the console's GraphiQL
    ],
)
async def test_every_graphql_answer_has_one_request_id_of_ours(
    http: httpx.AsyncClient,
    eu_tenant: Tenant,
    method: str,
    headers: dict[str, str],
    content: bytes,
    status: int,
) -> None:
    if headers.get("authorization") == "token":
        headers = {"authorization": f"Bearer {eu_tenant.token}"}
    headers = {**headers, "content-type": "application/json", "x-request-id": "theirs"}
    response = await http.request(method, "/graphql", headers=headers, content=content)
    assert response.status_code == status
    [request_id] = response.headers.get_list("x-request-id")
    assert len(request_id) == 32 and int(request_id, 16) >= 0


NAME = "Guessed-Name-7f3a"


@pytest.mark.parametrize(
    ("query", "operation", "authenticated"),
    [
        ("query Mine { me { id } }", NAME, True),
        (
            'mutation A { login(tenant: "eu_x", email: "a@b.c", password: "p") { accessToken } }',
            NAME,
            False,
        ),
    ],
)
async def test_an_unknown_operation_name_is_a_coded_error_without_echo(
    http: httpx.AsyncClient,
    eu_tenant: Tenant,
    query: str,
    operation: str | None,
    authenticated: bool,
) -> None:
    headers = {"authorization": f"Bearer {eu_tenant.token}"} if authenticated else {}
    response = await http.post(
        "/graphql", json={"query": query, "operationName": operation}, headers=headers
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "operationName"}
    assert NAME not in response.text
