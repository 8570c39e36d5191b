"""The compiled read path answers exactly as the standard Strawberry executor does.

Every document is sent, as the same caller and on the same data, to the gateway with the
compiled path (the default) and to one without it; the two response bodies must be the
same bytes, errors and nulls included. Documents the compiler serves must have been served
by it (counted), so the comparison is not between two runs of the standard executor.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from hashlib import sha256
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from gateway.endpoints.compiled import validation_rules
from gateway.services import Services
from gateway.settings import Settings
from resolvers.authz.cache import AuthorizationCache
from resolvers.compiled import CompiledReads
from resolvers.schema import build_schema
from tests.support.client import GraphQLClient, Tenant, make_tenant
from tests.support.differential import compiled_path, documents, standard_gateway
from tests.support.employees import create_employee
from tests.support.roles import make_role, make_user

DIFFERENTIAL = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


class Pair:
    """One caller's token, sent to both gateways."""

    def __init__(
        self, app: Starlette, compiled: httpx.AsyncClient, standard: httpx.AsyncClient, token: str
    ) -> None:
        self.path = compiled_path(app)
        self.compiled = compiled
        self.standard = standard
        self.token = token

    async def both(
        self, query: str, variables: dict[str, Any] | None = None
    ) -> tuple[bytes, bytes, bool]:
        """Both bodies, and whether the compiled path answered the first."""
        content = orjson.dumps({"query": query, "variables": variables or {}})
        headers = {"authorization": f"Bearer {self.token}", "content-type": "application/json"}
        before = self.path.served
        fast = await self.compiled.post("/graphql", content=content, headers=headers)
        served = self.path.served > before
        slow = await self.standard.post("/graphql", content=content, headers=headers)
        assert fast.status_code == slow.status_code
        return fast.content, slow.content, served


@pytest.fixture(scope="module")
async def standard(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with standard_gateway(settings) as client:
        yield client


@pytest.fixture(scope="module")
async def tenant(services: Services, http: httpx.AsyncClient) -> Tenant:
    tenant = await make_tenant(services, "DE", "Differential Org")
    admin = GraphQLClient(http, tenant.token)
    for index in range(6):
        await create_employee(
            admin,
            department=["Sales", "Engineering", "Sales"][index % 3],
            status=["ACTIVE", "ON_LEAVE"][index % 2],
            personalEmail=None if index % 2 else f"p{index}@mail.example",
            salary=None if index == 4 else 50_000 + index,
            dateOfBirth=None if index == 3 else "1990-04-01",
        )
    archived = await create_employee(admin, department="Sales")
    await admin.ok(
        f'mutation {{ archiveEmployee(id: "{archived["id"]}", expectedVersion: 1) {{ id }} }}'
    )
    return tenant


@pytest.fixture(scope="module")
async def callers(
    app: Starlette,
    http: httpx.AsyncClient,
    standard: httpx.AsyncClient,
    services: Services,
    tenant: Tenant,
) -> list[Pair]:
    """The admin; a role that reads some fields and masks others on Sales rows only; and a
    user with that role and one reading names everywhere."""
    admin = GraphQLClient(http, tenant.token)
    suffix = uuid.uuid4().hex[:6]
    sales = f"sales{suffix}"
    names = f"names{suffix}"
    await make_role(
        admin,
        sales,
        read=["firstName", "lastName", "department", "status", "salary", "dateOfBirth"],
        mask=["workEmail", "phone", "nationalId"],
        rowFilter={"equals": [{"field": "department", "value": "Sales"}]},
    )
    await make_role(admin, names, read=["firstName", "lastName", "department"])
    one, _ = await make_user(admin, services, tenant, f"s{suffix}@example.com", [sales])
    two, _ = await make_user(admin, services, tenant, f"b{suffix}@example.com", [sales, names])
    return [Pair(app, http, standard, t.token) for t in (admin, one, two)]


@pytest.fixture(scope="module")
async def ids(callers: list[Pair]) -> list[str]:
    body = orjson.loads((await callers[0].both("{ employees { nodes { id } } }"))[0])
    return [n["id"] for n in body["data"]["employees"]["nodes"]]


async def test_known_shapes_are_compiled_and_identical(callers: list[Pair], ids: list[str]) -> None:
    query = """
    query Shapes($s: Boolean!, $id: ID!, $f: EmployeeFilter) {
      __typename
      list: employees(first: 4, filter: $f) {
        __typename
        total: nodes { ...Bits key: id firstName @skip(if: $s) ... on Employee { status } }
        edges { cursor node { __typename id dateOfBirth @include(if: $s) } }
        pageInfo { hasNextPage endCursor }
      }
      one: employee(id: $id) { ...Bits createdAt updatedAt }
    }
    fragment Bits on Employee { id version archived lastName department }
    """
    for pair in callers[:1]:
        for s in (True, False):
            variables = {"s": s, "id": ids[0], "f": {"department": "Sales"}}
            fast, slow, served = await pair.both(query, variables)
            assert served
            assert fast == slow
            assert b'"errors"' not in fast
    # Masked fields, and the extensions that name them, for the role that masks.
    fast, slow, served = await callers[1].both(
        "{ employees { nodes { id workEmail phone firstName } } }"
    )
    assert served and fast == slow
    assert orjson.loads(fast)["extensions"]["masked"] == {"Employee": ["phone", "workEmail"]}


async def test_errors_and_forbidden_fields_answer_the_same(callers: list[Pair]) -> None:
    for query in (
        "{ employees(first: 0) { nodes { id } } }",
        '{ employee(id: "01ARZ3NDEKTSV4RRFFQ69G5FAV") { id } }',
        "{ employees { nodes { salary address } } }",  # address: forbidden to the roles
        '{ employees(filter: { workEmail: "x@example.com" }) { nodes { id } } }',  # masked
        "{ employees { nodes { nope } } }",
        "{ employees { nodes { ...Missing } } }",
        "{ me { id } employees { nodes { id } } }",  # not compiled: left to Strawberry
    ):
        for pair in callers:
            fast, slow, served = await pair.both(query)
            assert fast == slow, query
            # An answer with errors, or a document it does not compile, is Strawberry's.
            assert not served or (b'"errors"' not in fast and "me" not in query)
    for pair in callers[1:]:
        fast, _, _ = await pair.both("{ employees { nodes { salary address } } }")
        assert orjson.loads(fast)["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# The hypothesis run makes garbage enough for the collector to finalise sockets other
# tests' clients left behind (seen twice in full runs, never with this module alone);
# those ResourceWarnings are not about this test's answers.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@DIFFERENTIAL
@given(data=st.data())
async def test_generated_documents_answer_byte_for_byte_the_same(
    callers: list[Pair], ids: list[str], data: st.DataObject
) -> None:
    document, variables = data.draw(documents(ids))
    pair = data.draw(st.sampled_from([callers[0], *callers]))  # the admin reads all
    fast, slow, served = await pair.both(document, variables)
    if fast != slow:
        # Strawberry resolves root fields concurrently: with several failing, which errors
        # it reports, and in what order, varies from run to run (with non-null fields the
        # first to fail nulls `data` and the rest may be cut short). Both answers came from
        # Strawberry then; the compiled path declined, and their data agree.
        assert not served and b'"errors"' in fast and b'"errors"' in slow, document
        assert orjson.loads(fast)["data"] == orjson.loads(slow)["data"], document
    if b'"errors"' not in fast:
        assert served, document  # everything generated is compilable


HOSTILE_ALIASES = [
    "__class__",
    "__init__",
    "__import__",
    "exec",
    "self",
    "record",
    "values",
    "get",
    "_",
    "__typename_",
    "a" * 200,
]
HOSTILE_VALUES = [
    "\"); __import__('os').system('touch /tmp/pwned') #",
    "{'$ne': None}",
    "'; return 1; '",
    "\\u0000\x00",
    "${7*7}",
]


async def test_hostile_aliases_and_values_are_data(callers: list[Pair], ids: list[str]) -> None:
    selection = " ".join(f"{a}: firstName" for a in HOSTILE_ALIASES)
    query = f"{{ __class__: employees(first: 2) {{ nodes {{ {selection} }} }} }}"
    fast, slow, served = await callers[0].both(query)
    assert served and fast == slow
    nodes = orjson.loads(fast)["data"]["__class__"]["nodes"]
    assert nodes and all(sorted(n) == sorted(HOSTILE_ALIASES) for n in nodes)
    for value in HOSTILE_VALUES:
        variables = {"f": {"lastName": value, "department": value}, "after": value}
        for query in (
            "query($f: EmployeeFilter) { employees(filter: $f) { nodes { exec: id } } }",
            "query($after: String) { employees(after: $after) { nodes { id } } }",
            "query($after: ID!) { employee(id: $after) { id } }",
        ):
            used = {k: v for k, v in variables.items() if f"${k}" in query}
            fast, slow, _ = await callers[0].both(query, used)
            assert fast == slow
            assert value.encode() not in fast


def test_compiled_documents_are_cached_and_bounded() -> None:
    schema = build_schema()
    cache = AuthorizationCache(size=2)
    reads = CompiledReads(schema._schema, validation_rules(schema), cache, max_tokens=2000)
    documents = [f"{{ employees(first: {n}) {{ nodes {{ id }} }} }}" for n in (1, 2, 3)]
    compiled = [reads.prepare(sha256(d.encode()).hexdigest(), d, None) for d in documents]
    assert all(c is not None for c in compiled)
    assert len(cache.operations) == 2  # the least recently used one was dropped
    again = reads.prepare(sha256(documents[2].encode()).hexdigest(), documents[2], None)
    assert again is compiled[2]
    # Not compiled, and remembered as such: mutations, admin fields, introspection.
    for other in ("mutation { logout }", "{ roles { name } }", "{ __schema { types { name } } }"):
        assert reads.prepare(sha256(other.encode()).hexdigest(), other, None) is None
