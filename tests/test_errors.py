"""Every failure a client can cause has a code, and no error message repeats a value."""

from __future__ import annotations

import httpx
import pytest

from resolvers.errors import sanitize_message
from tests.support.client import GraphQLClient, Tenant
from tests.support.employees import employee_input, marker

CREATE = "mutation($i: EmployeeCreateInput!) { createEmployee(input: $i) { id } }"


@pytest.mark.parametrize(
    "document",
    [
        "{ employees { nodes { id ",  # syntax
        "{ employees { nodes { nosuchfield } } }",  # validation
        "{ employees { nodes { ...Missing } } }",  # an undefined fragment
        "{ employee { id } }",  # missing argument
        'query { employees(first: "SECRETVALUE") { nodes { id } } }',
        'mutation { createEmployee(input: {firstName: "SECRETVALUE"}) { id } }',
        'mutation { createEmployee(input: {firstName: "a", lastName: "b", '
        'workEmail: "c@d.example", status: SECRETVALUE}) { id } }',
        '{ employees { nodes { id } } } { "SECRETVALUE" }',
        "subscription { x }",
    ],
)
async def test_bad_documents_get_bad_user_input_without_values(
    eu: GraphQLClient, document: str
) -> None:
    body = await eu(document)
    assert body.get("data") is None
    assert body["errors"], body
    for error in body["errors"]:
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert "SECRETVALUE" not in error["message"]


async def test_bad_variables_do_not_echo_values(eu: GraphQLClient) -> None:
    secret = marker("SECRET")
    for override in (
        {"salary": secret},
        {"status": secret},
        {"dateOfBirth": secret},
        {"firstName": {"$ne": secret}},
        {"lastName": [secret]},
    ):
        body = await eu(CREATE, {"i": employee_input(**override)})
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert secret not in str(body), body


async def test_operator_objects_never_reach_the_database(eu: GraphQLClient) -> None:
    for value in ({"$ne": None}, {"$regex": ".*"}, ["x"]):
        body = await eu(
            "query($f: EmployeeFilter) { employees(filter: $f) { nodes { id } } }",
            {"f": {"lastName": value}},
        )
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_sanitizer_cuts_quoted_values() -> None:
    msg = (
        "Variable '$i' got invalid value \"alice@example.com\" at 'i.salary'; "
        'Int cannot represent non-integer value: "alice@example.com"'
    )
    cleaned = sanitize_message(msg)
    assert "alice" not in cleaned and "'$i'" in cleaned and "i.salary" in cleaned


async def test_health_and_readiness(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    ready = await http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"region:eu": "ok", "region:us": "ok", "redis": "ok"}


async def test_unknown_input_fields_do_not_echo_the_input(eu: GraphQLClient) -> None:
    secret = marker("NID")
    update = """mutation($id: ID!, $input: EmployeeUpdateInput!) {
      updateEmployee(id: $id, expectedVersion: 1, input: $input) { id } }"""
    body = await eu(update, {"id": "x", "input": {"nationalId": secret, "x": 1}})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert secret not in str(body)
    literal = await eu(
        f'mutation {{ createEmployee(input: {{salry: 72000, lastName: "{secret}"}}) {{ id }} }}'
    )
    assert secret not in str(literal) and "72000" not in str(literal)


@pytest.mark.parametrize(
    "document",
    [
        '{ employees(filter: {natonalId: "x"}) { nodes { id } } }',
        "{ employees(includeArchivd: true) { nodes { id } } }",
        'mutation { createEmployee(input: {firstName: "a", lastName: "b", '
        'workEmail: "c@d.example", status: ACTVE}) { id } }',
        "query($f: EmployeFilter) { employees(filter: $f) { nodes { id } } }",
    ],
)
async def test_no_suggestions_in_any_message(eu: GraphQLClient, document: str) -> None:
    body = await eu(document)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "Did you mean" not in str(body)


@pytest.mark.parametrize(
    ("content", "content_type", "method", "status"),
    [
        (b'[{"query": "{ me { id } }"}]', "application/json", "POST", 400),
        (b'{"query": 5}', "application/json", "POST", 400),
        (b'{"query": "{ me { id } }", "variables": [1]}', "application/json", "POST", 400),
        (b'{"query": "{ me { id } }", "operationName": ["x"]}', "application/json", "POST", 400),
        (b"{ me { id } }", "text/plain", "POST", 415),
        (b"", "application/json", "GET", 405),
    ],
)
async def test_malformed_requests_get_graphql_shaped_errors(
    http: httpx.AsyncClient,
    eu_tenant: Tenant,
    content: bytes,
    content_type: str,
    method: str,
    status: int,
) -> None:
    response = await http.request(
        method,
        "/graphql?query=%7Bme%7Bid%7D%7D",
        content=content,
        headers={"authorization": f"Bearer {eu_tenant.token}", "content-type": content_type},
    )
    assert response.status_code == status
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_huge_audit_cursor_is_bad_input(eu: GraphQLClient) -> None:
    import base64

    cursor = base64.urlsafe_b64encode(b"a1:" + b"9" * 30).decode()
    body = await eu(f'{{ auditLog(after: "{cursor}") {{ nodes {{ sequence }} }} }}')
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
