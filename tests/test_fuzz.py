"""A bounded Schemathesis (GraphQL) run against the live schema of a real ``enclave serve``
on loopback, as an admin of a tenant of its own: every query and mutation field, positive and
negative documents, with real record ids, versions and role names mixed in, and strings that
look like MongoDB operators mixed into every ``String``/``ID`` argument and input field. No
answer may be a 5xx, every answer is a JSON object, and every error carries a documented
``extensions.code`` other than ``INTERNAL``. (Operator injection on its own:
tests/test_injection.py.)
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.core.result import Ok

from gateway.dev.processes import ChildProcess
from gateway.services import Services
from gateway.settings import Settings
from schema.datasheets import DATASHEETS
from tests.support.client import GraphQLClient, Tenant, make_tenant
from tests.support.employees import employee_input
from tests.support.gateways import gateway_env, running_gateways
from tests.support.injection import OPERATOR_STRINGS

#: Codes a client can cause (README, "Errors"). ``INTERNAL`` is a bug; ``REGION_UNAVAILABLE``
#: cannot happen with healthy servers, nor ``RATE_LIMITED`` with the limits off.
CLIENT_CODES = frozenset(
    {"BAD_USER_INPUT", "NOT_FOUND", "CONFLICT", "UNAUTHENTICATED", "FORBIDDEN", "PAYLOAD_TOO_LARGE"}
)


def check_answer(status: int, text: str) -> list[str]:
    """What is wrong with an answer of the gateway: a 5xx, a body that is not a JSON object,
    an error without a client code."""
    problems = []
    if status >= 500:
        problems.append(f"HTTP {status}")
    try:
        body = json.loads(text)
    except ValueError:
        return [*problems, f"HTTP {status}: body is not JSON: {text[:200]!r}"]
    if not isinstance(body, dict):
        return [*problems, f"HTTP {status}: body is not a JSON object: {text[:200]!r}"]
    if not body.get("errors") and "data" not in body:
        problems.append(f"HTTP {status}: neither data nor errors: {text[:200]!r}")
    for error in body.get("errors") or ():
        extensions = error.get("extensions") if isinstance(error, dict) else None
        code = extensions.get("code") if isinstance(extensions, dict) else None
        if code not in CLIENT_CODES:
            problems.append(f"HTTP {status}: error with code {code!r}: {error!r}")
    return problems


#: DateTimes at the ends of the range (where a UTC offset takes the instant out of it), and a
#: few ordinary ones.
EXTREME_DATETIMES = (
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "2020-02-29T12:00:00+05:30",
    "2020-01-01",
)


def datetimes() -> st.SearchStrategy[str]:
    """ISO 8601 date-times with any UTC offset (Schemathesis's own have none but ``Z``)."""
    offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
    return st.one_of(
        st.sampled_from(EXTREME_DATETIMES),
        st.datetimes(timezones=offsets).map(dt.datetime.isoformat),
    )


#: About how many requests the run sends: examples per operation and generation mode
#: (positive, negative) are this divided among them, between 5 and 15 (11 for 46 operations:
#: 973 requests, 16-18 s against the local FerretDB).
FUZZ_REQUESTS = 1100


@dataclass
class Seeded:
    """What the fuzz tenant holds before the run: record ids per datasheet, user ids, roles."""

    records: dict[str, list[str]] = field(default_factory=dict)
    cursors: dict[str, list[str]] = field(default_factory=dict)
    users: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def fuzz_gateway(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ChildProcess]:
    """One ``enclave serve`` on loopback, without rate limits (the run sends hundreds of
    requests a minute as one admin)."""
    env = gateway_env(
        settings, ENCLAVE_RATE_LIMIT_PER_PRINCIPAL="0", ENCLAVE_RATE_LIMIT_PER_TENANT="0"
    )
    with running_gateways(["fuzz"], env, tmp_path_factory.mktemp("fuzz-gateway")) as gateways:
        yield gateways[0]


@pytest.fixture(scope="module")
async def fuzz_tenant(services: Services) -> Tenant:
    return await make_tenant(services, "DE", "Fuzz Org")


def _post(client: httpx.Client, query: str, variables: Mapping[str, Any]) -> dict[str, Any]:
    response = client.post("/graphql", json={"query": query, "variables": dict(variables)})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


SEED_INPUTS: dict[str, list[dict[str, Any]]] = {
    "contacts": [
        {"firstName": "C", "lastName": "D", "kind": "CUSTOMER", "company": "$where"},
        {"firstName": "E", "lastName": "F", "kind": "PARTNER", "email": "e.f@example.com"},
    ],
    "applicants": [
        {"firstName": "A", "lastName": "B", "email": "a.b@example.com", "position": "$regex"},
        {"firstName": "G", "lastName": "H", "email": "g.h@example.com", "position": "Engineer"},
    ],
}


def _seed(gateway: ChildProcess, tenant: Tenant) -> Seeded:
    """Records of every datasheet (some with operator-like values), a role with a row filter
    and a user holding it."""
    seeded = Seeded(users=[tenant.admin_id], roles=["fuzz-reader", "admin"])
    inputs = {
        "employees": [employee_input(department=d) for d in ("Engineering", "$ne", '{"$ne": 1}')],
        "contacts": SEED_INPUTS["contacts"],
        "applicants": [{**a, "stage": "APPLIED"} for a in SEED_INPUTS["applicants"]],
    }
    headers = {"authorization": f"Bearer {tenant.token}"}
    with httpx.Client(base_url=gateway.url, headers=headers, timeout=30.0) as client:
        for name, sheet in DATASHEETS.items():
            t = sheet.type_name
            document = f"mutation($i: {t}CreateInput!) {{ create{t}(input: $i) {{ id }} }}"
            seeded.records[name] = [
                _post(client, document, {"i": values})[f"create{t}"]["id"]
                for values in inputs[name]
            ]
            page = _post(client, f"{{ {name}(first: 1) {{ pageInfo {{ endCursor }} }} }}", {})
            seeded.cursors[name] = [page[name]["pageInfo"]["endCursor"]]
        role = {
            "name": "fuzz-reader",
            "sheets": [
                {
                    "datasheet": "employees",
                    "read": ["firstName", "lastName", "department"],
                    "rowFilter": {"equals": [{"field": "department", "value": "$ne"}]},
                }
            ],
        }
        _post(client, "mutation($r: RoleInput!) { createRole(input: $r) { name } }", {"r": role})
        data = _post(
            client,
            'mutation { createUser(email: "fuzz.user@example.com", roles: ["fuzz-reader"]) '
            "{ id } }",
            {},
        )
        seeded.users.append(data["createUser"]["id"])
    return seeded


def _config(seeded: Seeded) -> schemathesis.Config:
    """Real ids and cursors (each datasheet's for its own fields), versions, page sizes,
    emails and role names for the arguments that take them, and operator-like strings for
    every String and ID (arguments and input fields alike)."""
    dictionaries: dict[str, Any] = {
        "records": {"values": [i for ids in seeded.records.values() for i in ids]},
        "users": {"values": seeded.users},
        "versions": {"values": [1, 2, 3, 4]},
        "sizes": {"values": [1, 2, 10, 50]},
        "emails": {"values": ["fuzz.a@example.com", "Fuzz.B@Example.org", "c@d.example"]},
        "roles": {"values": seeded.roles},
        "datasheets": {"values": sorted(DATASHEETS)},
        "operators": {"values": list(OPERATOR_STRINGS)},
        # The log queries take "" as no cursor.
        "no-cursor": {"values": [""]},
    }
    parameters: dict[str, Any] = {
        "Query.recordAccess.id": {"dictionary": "records", "probability": 0.6},
        "*.*.userId": {"dictionary": "users", "probability": 0.6},
        "*.*.principal": {"dictionary": "users", "probability": 0.6},
        "Mutation.updateUser.id": {"dictionary": "users", "probability": 0.6},
        "*.*.expectedVersion": {"dictionary": "versions", "probability": 0.7},
        "*.*.fromVersion": {"dictionary": "versions", "probability": 0.7},
        "*.*.toVersion": {"dictionary": "versions", "probability": 0.7},
        "*.*.first": {"dictionary": "sizes", "probability": 0.8},
        "*.*.email": {"dictionary": "emails", "probability": 0.8},
        "*.*.input.email": {"dictionary": "emails", "probability": 0.8},
        "*.*.input.workEmail": {"dictionary": "emails", "probability": 0.8},
        "*.*.input.personalEmail": {"dictionary": "emails", "probability": 0.5},
        "*.*.name": {"dictionary": "roles", "probability": 0.5},
        "*.*.roles[*]": {"dictionary": "roles", "probability": 0.5},
        "*.*.datasheet": {"dictionary": "datasheets", "probability": 0.5},
        "*.*.input.name": {"dictionary": "roles", "probability": 0.3},
        "*.*.input.sheets[*].datasheet": {"dictionary": "datasheets", "probability": 0.6},
    }
    for field_name in ("auditLog", "principalAccess", "recordAccess", "loginHistory"):
        parameters[f"Query.{field_name}.after"] = {"dictionary": "no-cursor", "probability": 0.7}
    for name, sheet in DATASHEETS.items():
        t = sheet.type_name
        dictionaries[f"{name}-ids"] = {"values": seeded.records[name]}
        dictionaries[f"{name}-cursors"] = {"values": seeded.cursors[name]}
        parameters[f"Query.{name}.after"] = {"dictionary": f"{name}-cursors", "probability": 0.7}
        for field_name in (
            f"Query.{sheet.singular}",
            *(f"Mutation.{verb}{t}" for verb in ("update", "archive", "restore", "delete")),
        ):
            parameters[f"{field_name}.id"] = {"dictionary": f"{name}-ids", "probability": 0.6}
    return schemathesis.Config.from_dict(
        {
            "dictionaries": dictionaries,
            "parameters": parameters,
            "generation": {
                "dictionaries": {"string": {"dictionary": "operators", "probability": 0.25}},
            },
        }
    )


@dataclass
class FuzzLog:
    requests: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    succeeded: set[str] = field(default_factory=set)


Operation = schemathesis.APIOperation[Any, Any, Any, Any]


def _fuzz_operation(
    operation: Operation,
    mode: schemathesis.GenerationMode,
    session: requests.Session,
    base_url: str,
    headers: dict[str, str],
    log: FuzzLog,
    examples: int,
) -> None:
    @hypothesis_settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case[Operation]) -> None:
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
        log.requests += 1
        problems = check_answer(response.status_code, response.text)
        try:
            body = json.loads(response.text)
            codes = sorted({e["extensions"]["code"] for e in body.get("errors") or ()})
            log.outcomes[",".join(codes) or "ok"] += 1
            if not codes:
                log.succeeded.add(operation.label)
        except (ValueError, KeyError, TypeError, AttributeError):
            log.outcomes["unparsable"] += 1
        for problem in problems:
            log.problems.append(
                f"{operation.label} ({mode.value}): {problem}\n  query: {case.body!r}"
            )

    run()


def test_schemathesis_run_finds_no_server_error(
    fuzz_gateway: ChildProcess, fuzz_tenant: Tenant
) -> None:
    started = time.monotonic()
    schemathesis.graphql.scalar("DateTime", datetimes().map(schemathesis.graphql.nodes.String))
    seeded = _seed(fuzz_gateway, fuzz_tenant)
    headers = {"Authorization": f"Bearer {fuzz_tenant.token}"}
    schema = schemathesis.graphql.from_url(
        f"{fuzz_gateway.url}/graphql", config=_config(seeded), headers=headers, timeout=30
    )
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        # Allow-list mode would refuse every later fuzzed document (by design); it has its
        # own tests (tests/test_persisted.py).
        if result.ok().label != "Mutation.setOperationAllowList":
            operations.append(result.ok())
    labels = {op.label for op in operations}
    # The run covers the whole admin schema: every datasheet's fields and the admin fields.
    for sheet in DATASHEETS.values():
        assert f"Query.{sheet.name}" in labels
        assert f"Mutation.create{sheet.type_name}" in labels
    assert {"Query.auditLog", "Query.roles", "Mutation.createRole", "Mutation.updateUser"} <= labels

    log = FuzzLog()
    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    examples = max(5, min(15, FUZZ_REQUESTS // (len(modes) * len(operations))))
    with requests.Session() as session:
        for mode in modes:
            for operation in operations:
                _fuzz_operation(
                    operation, mode, session, f"{fuzz_gateway.url}/graphql", headers, log, examples
                )
    elapsed = time.monotonic() - started
    print(
        f"\nschemathesis {schemathesis.__version__}: {len(operations)} operations, "
        f"{examples} examples each per mode, "
        f"{log.requests} requests in {elapsed:.1f}s; outcomes {dict(log.outcomes)}; "
        f"{len(log.succeeded)} operations answered without error at least once"
    )
    assert not log.problems, "\n".join(log.problems[:20])
    assert log.requests >= len(operations) * 2
    # No crash: the gateway is still up and logged no internal error or traceback.
    assert fuzz_gateway.ready()
    gateway_log = fuzz_gateway.log_path.read_text(errors="replace")
    assert "internal error" not in gateway_log
    assert "Traceback" not in gateway_log


@pytest.mark.parametrize("moment", EXTREME_DATETIMES)
async def test_datetime_arguments_at_the_ends_of_the_range(
    eu: GraphQLClient, eu_tenant: Tenant, moment: str
) -> None:
    """The date-time arguments (audit log and access log windows) take any valid date-time:
    one whose UTC instant falls outside years 1-9999 is a client error, never INTERNAL."""
    for document, variables in (
        (
            "query($t: DateTime) { auditLog(filter: {since: $t}) { nodes { sequence } } }",
            {"t": moment},
        ),
        (
            "query($t: DateTime) { auditLog(filter: {until: $t}) { nodes { sequence } } }",
            {"t": moment},
        ),
        (
            "query($p: ID!, $t: DateTime!) { principalAccess(principal: $p, since: $t, "
            "until: $t) { nodes { principal } } }",
            {"p": eu_tenant.admin_id, "t": moment},
        ),
    ):
        response = await eu.raw(document, variables)
        assert check_answer(response.status_code, response.text) == [], (document, moment)
