"""Fuzzing and operator injection.

1. A bounded Schemathesis (GraphQL) run against the live schema of a real ``enclave serve`` on
   loopback, as an admin of a tenant of its own: every query and mutation field, positive and
   negative documents, with real record ids, versions and role names mixed in, and strings that
   look like MongoDB operators mixed into every ``String``/``ID`` argument and input field. No
   answer may be a 5xx, every answer is a JSON object, and every error carries a documented
   ``extensions.code`` other than ``INTERNAL``.
2. Operator injection through filters, inputs, row filters, audit and access-log filters and
   top-level variables (``$where``, ``$ne``, ``$regex``, ``$function``, keys starting with ``$``),
   against an in-process gateway whose MongoDB clients report every command they send: each
   attempt is refused with ``BAD_USER_INPUT`` or treated as a literal string, no command sent to
   the database carries an injected operator, and nothing comes back that only an operator
   could have matched.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pymongo import AsyncMongoClient, monitoring
from schemathesis.core.result import Ok
from starlette.applications import Starlette

import regions.clients
from gateway.app import create_app
from gateway.dev.processes import ChildProcess
from gateway.services import Services
from gateway.settings import Settings
from schema.datasheets import DATASHEETS
from tests.conftest import GraphQLClient, Tenant, make_tenant
from tests.gateways import gateway_env, running_gateways
from tests.helpers import (
    CREATE_EMPLOYEE,
    EMPLOYEE_FIELDS,
    UPDATE_EMPLOYEE,
    create_employee,
    employee_input,
)

# -- shared ---------------------------------------------------------------------------------

#: Codes a client can cause (README, "Errors"). ``INTERNAL`` is a bug; ``REGION_UNAVAILABLE``
#: cannot happen with healthy servers, nor ``RATE_LIMITED`` with the limits off.
CLIENT_CODES = frozenset(
    {"BAD_USER_INPUT", "NOT_FOUND", "CONFLICT", "UNAUTHENTICATED", "FORBIDDEN", "PAYLOAD_TOO_LARGE"}
)

#: Strings that MongoDB would read as operators (as keys) or as field paths (in pipelines),
#: and strings that would match everything if they were read as patterns or code.
OPERATOR_STRINGS = (
    "$ne",
    "$where",
    "$regex",
    "$function",
    "$gt",
    "$exists",
    "$expr",
    "$or",
    "$department",
    ".*",
    "^",
    "this.a == this.a",
    "function() { return true; }",
    '{"$ne": null}',
    '{"$regex": ".*"}',
    '{"$where": "sleep(100)"}',
)

#: Operator objects as a client could send them in JSON variables.
OPERATOR_OBJECTS: tuple[Any, ...] = (
    {"$ne": None},
    {"$ne": "x"},
    {"$regex": ".*"},
    {"$gt": ""},
    {"$exists": True},
    {"$in": ["Engineering", "Sales"]},
    {"$where": "sleep(100)"},
    {"$where": "function() { return true; }"},
    {"$function": {"body": "function() { return true; }", "args": [], "lang": "js"}},
    {"$expr": {"$eq": [1, 1]}},
    ["$ne"],
    [{"$ne": None}],
)

#: Operators that evaluate code or patterns, or match more than equality: the gateway's own
#: queries never use them, and a command holding one means an injection got through.
FORBIDDEN_OPERATORS = frozenset(
    {
        "$where",
        "$regex",
        "$options",
        "$function",
        "$accumulator",
        "$expr",
        "$jsonSchema",
        "$text",
        "$exists",
        "$not",
        "$nin",
        "$elemMatch",
        "$type",
        "$mod",
        "$all",
        "$size",
    }
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


# -- 1. Schemathesis against a live gateway --------------------------------------------------

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


# -- 2. Operator injection --------------------------------------------------------------------

#: Operators the gateway's own queries and updates use (storage/mongo); any other operator in
#: a command would have come from a request.
GATEWAY_OPERATORS = frozenset({"$and", "$or", "$in", "$ne", "$gt", "$gte", "$lt", "$set", "$unset"})
#: Every field name of every datasheet: the keys under which request values are stored/queried.
FIELD_NAMES = frozenset(f.name for sheet in DATASHEETS.values() for f in sheet.fields)


class CommandLog(monitoring.CommandListener):
    """Every command the watched gateway's MongoDB clients send."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.commands.append(
            (event.database_name, event.command_name, copy.deepcopy(dict(event.command)))
        )

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def mark(self) -> int:
        return len(self.commands)

    def since(self, mark: int) -> list[tuple[str, str, dict[str, Any]]]:
        return self.commands[mark:]


def _payloads(command: Mapping[str, Any]) -> Iterator[Any]:
    """The parts of a command that hold filters, updates and documents (not its envelope:
    ``$db``, ``$clusterTime``, ``lsid``...)."""
    for key in ("filter", "query", "update", "documents", "pipeline"):
        if key in command:
            yield command[key]
    for statement in command.get("updates", ()):
        yield statement.get("q")
        yield statement.get("u")
    for statement in command.get("deletes", ()):
        yield statement.get("q")


def _entries(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) of every mapping nested in *value*."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key), item
            yield from _entries(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _entries(item)


def _target(command: Mapping[str, Any], name: str) -> str | None:
    target = command.get(name)
    return target if isinstance(target, str) else None


def injection_problems(commands: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    """Operators in *commands* that the gateway itself does not write, and field values that
    are not plain values (an operator object or an array under a datasheet field's name)."""
    problems = []
    for database, name, command in commands:
        for payload in _payloads(command):
            for key, value in _entries(payload):
                where = f"{database}.{_target(command, name)} {name}"
                if key.startswith("$") and key not in GATEWAY_OPERATORS:
                    problems.append(f"{where}: operator {key!r} in {payload!r}")
                if key in FIELD_NAMES and isinstance(value, Mapping | list):
                    problems.append(f"{where}: {key} is not a plain value: {value!r}")
    return problems


def record_commands(
    commands: list[tuple[str, str, dict[str, Any]]], sheet: str
) -> list[tuple[str, dict[str, Any]]]:
    """The commands on *sheet*'s collection: (command name, command)."""
    return [(name, c) for _, name, c in commands if _target(c, name) == sheet]


@dataclass
class Watched:
    """An in-process gateway whose MongoDB clients report to *log*, and a tenant on it."""

    http: httpx.AsyncClient
    services: Services
    tenant: Tenant
    log: CommandLog

    @property
    def admin(self) -> GraphQLClient:
        return GraphQLClient(self.http, self.tenant.token)


@pytest.fixture(scope="module")
async def watched(settings: Settings) -> AsyncIterator[Watched]:
    """The gateway built while ``regions.clients`` makes its clients with a command listener
    (the clients keep it; nothing is patched once it is built)."""
    log = CommandLog()

    def watched_client(*args: Any, **kwargs: Any) -> AsyncMongoClient[dict[str, Any]]:
        # Besides the listeners the gateway gives its clients (its metrics).
        kwargs["event_listeners"] = [*kwargs.get("event_listeners", ()), log]
        return AsyncMongoClient(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(regions.clients, "AsyncMongoClient", watched_client)
        application: Starlette = create_app(settings, background=False)
    async with application.router.lifespan_context(application):
        services: Services = application.state.services
        tenant = await make_tenant(services, "DE", "Injection Org")
        assert log.commands, "the command listener sees the gateway's commands"
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50001))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield Watched(http, services, tenant, log)


def assert_refused(body: Mapping[str, Any], what: object) -> None:
    assert body.get("data") is None, (what, body)
    codes = [e["extensions"]["code"] for e in body["errors"]]
    assert codes and set(codes) == {"BAD_USER_INPUT"}, (what, body)


#: Departments (plaintext, equality-filterable) of the literal records: one record each.
LITERAL_DEPARTMENTS = (*OPERATOR_STRINGS, "Literal Department")
#: Last names (deterministically encrypted) of some of them; each one of the departments.
LITERAL_LAST_NAMES = ("$ne", "$regex", ".*", '{"$ne": null}')


@pytest.fixture(scope="module")
async def literals(watched: Watched) -> dict[str, str]:
    """One employee per department in ``LITERAL_DEPARTMENTS`` (department -> id), with the
    same string as its job title, and as its first and last name if it is in
    ``LITERAL_LAST_NAMES``."""
    ids = {}
    for department in LITERAL_DEPARTMENTS:
        overrides: dict[str, Any] = {"department": department, "jobTitle": department}
        if department in LITERAL_LAST_NAMES:
            overrides.update(lastName=department, firstName=department)
        record = await create_employee(watched.admin, **overrides)
        assert record["department"] == department  # stored and returned as the literal
        ids[department] = record["id"]
    return ids


FILTER_QUERY = "query($f: {t}Filter) {{ {name}(first: 500, filter: $f) {{ nodes {{ id }} }} }}"


def test_the_injection_check_sees_operators() -> None:
    """``injection_problems`` itself: what it flags and what it lets through."""
    injected: list[dict[str, Any]] = [
        {"find": "employees", "filter": {"department": {"$ne": None}}},
        {"find": "employees", "filter": {"$where": "sleep(100)"}},
        {"find": "employees", "filter": {"$and": [{"lastName": {"$regex": ".*"}}]}},
        {"update": "employees", "updates": [{"q": {"_id": "x"}, "u": {"$rename": {"a": "b"}}}]},
        {"delete": "employees", "deletes": [{"q": {"jobTitle": ["x"]}}]},
        {"aggregate": "employees", "pipeline": [{"$match": {"$expr": {"$eq": [1, 1]}}}]},
        {"insert": "employees", "documents": [{"_id": "x", "department": {"$gt": ""}}]},
    ]
    injected += [{"find": "employees", "filter": {op: 1}} for op in FORBIDDEN_OPERATORS]
    for command in injected:
        assert injection_problems([("db", next(iter(command)), command)]), command
    assert GATEWAY_OPERATORS.isdisjoint(FORBIDDEN_OPERATORS)
    literal: list[dict[str, Any]] = [
        {"find": "employees", "filter": {"department": "$ne", "_archived": {"$ne": True}}},
        {"find": "employees", "filter": {"$or": [{"department": "$where"}, {"_id": {"$in": []}}]}},
        {"update": "employees", "updates": [{"q": {"_id": "x"}, "u": {"$set": {"phone": "$x"}}}]},
        {"insert": "employees", "documents": [{"_id": "x", "department": "$regex"}]},
    ]
    for command in literal:
        assert injection_problems([("db", next(iter(command)), command)]) == [], command


async def test_json_scalars_are_output_only(watched: Watched) -> None:
    """No argument and no input field takes a JSON scalar (or any custom scalar that could
    carry an object): the only JSON in the schema is the audit log's before/after output."""
    body = await watched.admin.ok(
        "{ __schema { types { name kind inputFields { name type { ...T } } "
        "fields { name type { ...T } args { name type { ...T } } } } } }"
        "fragment T on __Type { name kind ofType { name kind ofType { name kind ofType "
        "{ name kind } } } }"
    )

    def named(t: Mapping[str, Any]) -> str:
        while t.get("ofType"):
            t = t["ofType"]
        return str(t["name"])

    types = {t["name"]: t for t in body["__schema"]["types"]}
    inputs, outputs = set(), set()
    for t in types.values():
        for f in t.get("inputFields") or ():
            inputs.add(named(f["type"]))
        for f in t.get("fields") or ():
            outputs.add(named(f["type"]))
            for arg in f.get("args") or ():
                inputs.add(named(arg["type"]))
    assert "JSON" in outputs
    assert "JSON" not in inputs
    scalars = {n for n in inputs if types[n]["kind"] == "SCALAR"}
    assert scalars <= {"String", "ID", "Int", "Boolean", "Date", "DateTime"}, scalars


async def test_operator_objects_in_filters_are_refused(watched: Watched) -> None:
    mark = watched.log.mark()
    for name, sheet in DATASHEETS.items():
        query = FILTER_QUERY.format(t=sheet.type_name, name=name)
        for filterable in (f for f in sheet.fields if f.filterable):
            for value in OPERATOR_OBJECTS:
                body = await watched.admin(query, {"f": {filterable.name: value}})
                assert_refused(body, (filterable.name, value))
        # Keys starting with $ in the filter object itself, alone or beside a real field.
        for extra in (
            {"$where": "sleep(100)"},
            {"$or": [{"lastName": "x"}, {"lastName": {"$ne": None}}]},
            {"$function": {"body": "function() { return true; }", "args": [], "lang": "js"}},
            {"$ne": None},
            {"$regex": ".*"},
        ):
            for beside in ({}, {sheet.fields[1].name: "x"}):
                assert_refused(await watched.admin(query, {"f": {**beside, **extra}}), extra)
    commands = watched.log.since(mark)
    # Refused before any resolver ran: no datasheet collection was even read.
    for name in DATASHEETS:
        assert record_commands(commands, name) == []
    assert injection_problems(commands) == []


async def test_operators_written_into_documents_are_refused(watched: Watched) -> None:
    """Operator objects in GraphQL documents: not GraphQL, refused before execution."""
    for document in (
        '{ employees(filter: { department: { $ne: "x" } }) { nodes { id } } }',
        '{ employees(filter: { $where: "sleep(100)" }) { nodes { id } } }',
        '{ employees(filter: { department: { ne: "x" } }) { nodes { id } } }',
        '{ employees(filter: { department: ["x"] }) { nodes { id } } }',
        "{ employees(filter: { department: $ne }) { nodes { id } } }",
        '{ auditLog(filter: { datasheet: { regex: ".*" } }) { nodes { sequence } } }',
        "query($$where: String) { employees(filter: { department: $$where }) { nodes { id } } }",
    ):
        assert_refused(await watched.admin(document), document)


async def test_operator_objects_in_inputs_are_refused(watched: Watched) -> None:
    record = await create_employee(watched.admin)
    mark = watched.log.mark()
    strings = [
        f.name for f in DATASHEETS["employees"].fields if f.type.value in ("String", "Email")
    ]
    for value in OPERATOR_OBJECTS:
        for name in strings:
            body = await watched.admin(CREATE_EMPLOYEE, {"input": employee_input(**{name: value})})
            assert_refused(body, (name, value))
            body = await watched.admin(
                UPDATE_EMPLOYEE,
                {"id": record["id"], "v": record["version"], "input": {name: value}},
            )
            assert_refused(body, (name, value))
    for extra in (
        {"$set": {"department": "x"}},
        {"$unset": {"department": ""}},
        {"$where": "sleep(100)"},
        {"$rename": {"department": "x"}},
        {"department.$": "x"},
    ):
        assert_refused(
            await watched.admin(CREATE_EMPLOYEE, {"input": employee_input(**extra)}), extra
        )
        body = await watched.admin(
            UPDATE_EMPLOYEE, {"id": record["id"], "v": record["version"], "input": extra}
        )
        assert_refused(body, extra)
    # The expected version and the id are scalars too.
    for variables in (
        {"id": {"$ne": None}, "v": record["version"], "input": {}},
        {"id": record["id"], "v": {"$gt": 0}, "input": {}},
    ):
        assert_refused(await watched.admin(UPDATE_EMPLOYEE, variables), variables)
    commands = watched.log.since(mark)
    writes = [n for n, _ in record_commands(commands, "employees") if n != "find"]
    assert writes == [], "a refused input wrote to the employees collection"
    assert injection_problems(commands) == []
    # Nothing changed.
    data = await watched.admin.ok(
        f"query($id: ID!) {{ employee(id: $id) {{ {EMPLOYEE_FIELDS} }} }}", {"id": record["id"]}
    )
    assert data["employee"] == record


async def test_operator_strings_in_filters_match_literally(
    watched: Watched, literals: dict[str, str]
) -> None:
    """A filter value that looks like an operator, a pattern or code matches the record that
    holds exactly that string and no other: a record no literal equality would match comes
    back only if the value reached the database as an operator, a pattern or code."""
    query = FILTER_QUERY.format(t="Employee", name="employees")
    mark = watched.log.mark()
    for department, record_id in literals.items():
        data = await watched.admin.ok(query, {"f": {"department": department}})
        assert [n["id"] for n in data["employees"]["nodes"]] == [record_id], department
        data = await watched.admin.ok(query, {"f": {"jobTitle": department}})
        assert [n["id"] for n in data["employees"]["nodes"]] == [record_id], department
    for last_name in LITERAL_LAST_NAMES:
        data = await watched.admin.ok(query, {"f": {"lastName": last_name}})
        assert [n["id"] for n in data["employees"]["nodes"]] == [literals[last_name]]
    # Values that no record holds match nothing (as operators or patterns they would match).
    for value in ("$nin", "$type", "$all", "[^x]", ".+", "return true", "$$ROOT", "$_id"):
        data = await watched.admin.ok(query, {"f": {"department": value}})
        assert data["employees"]["nodes"] == [], value
    commands = watched.log.since(mark)
    assert injection_problems(commands) == []
    # The strings did reach the database: as the plain value of the field, nothing else.
    sent = [c["filter"].get("department") for n, c in record_commands(commands, "employees")]
    assert set(LITERAL_DEPARTMENTS) <= {d for d in sent if isinstance(d, str)}


async def test_operator_strings_in_inputs_are_stored_literally(
    watched: Watched, literals: dict[str, str]
) -> None:
    record = await create_employee(watched.admin, department="Ops")
    mark = watched.log.mark()
    version = record["version"]
    # Update operators, aggregation variables and field paths (none of LITERAL_DEPARTMENTS).
    for value in ("$unset", "$set", "$rename", "$$ROOT", '{"$gt": ""}', "$currentDate"):
        data = await watched.admin.ok(
            UPDATE_EMPLOYEE,
            {
                "id": record["id"],
                "v": version,
                "input": {"department": value, "firstName": value, "phone": value},
            },
        )
        updated = data["updateEmployee"]
        version = updated["version"]
        assert (updated["department"], updated["firstName"], updated["phone"]) == (value,) * 3
        data = await watched.admin.ok(
            f"query($id: ID!) {{ employee(id: $id) {{ {EMPLOYEE_FIELDS} }} }}",
            {"id": record["id"]},
        )
        assert data["employee"] == updated, value
    assert injection_problems(watched.log.since(mark)) == []
    # And the audit log hands them back, in its JSON before/after, as the same strings.
    data = await watched.admin.ok(
        "query($r: ID!) { auditLog(first: 50, filter: { record: $r }) "
        "{ nodes { operation changes { field before after } } } }",
        {"r": record["id"]},
    )
    afters = [
        c["after"]
        for n in data["auditLog"]["nodes"]
        for c in n["changes"]
        if c["field"] == "department"
    ]
    assert {'{"$gt": ""}', "$unset", "$$ROOT", "Ops"} <= set(afters), afters
    assert all(isinstance(a, str) for a in afters), afters


async def test_row_filters_match_literally(watched: Watched, literals: dict[str, str]) -> None:
    create_role = "mutation($r: RoleInput!) { createRole(input: $r) { name } }"

    def role(name: str, field: str, value: str) -> dict[str, Any]:
        return {
            "name": name,
            "sheets": [
                {
                    "datasheet": "employees",
                    "read": ["lastName", "department"],
                    "rowFilter": {"equals": [{"field": field, "value": value}]},
                }
            ],
        }

    for field_name in ("$where", "$or", "department.$ne", "_id", "_owner", "lastName"):
        body = await watched.admin(create_role, {"r": role("bad-row", field_name, "x")})
        assert_refused(body, field_name)
    for bad_value in ({"$ne": None}, ["x"]):
        body = await watched.admin(
            create_role,
            {
                "r": {
                    **role("bad-row", "department", "x"),
                    "sheets": [
                        {
                            "datasheet": "employees",
                            "read": ["lastName"],
                            "rowFilter": {"equals": [{"field": "department", "value": bad_value}]},
                        }
                    ],
                }
            },
        )
        assert_refused(body, bad_value)
    mark = watched.log.mark()
    for index, value in enumerate(("$ne", '{"$ne": null}', ".*", "$where")):
        name = f"literal-{index}"
        await watched.admin.ok(create_role, {"r": role(name, "department", value)})
        data = await watched.admin.ok(
            "mutation($e: String!, $r: [String!]!) { createUser(email: $e, roles: $r) { id } }",
            {"e": f"literal{index}@example.com", "r": [name]},
        )
        token = watched.services.tokens.issue(watched.tenant.id, data["createUser"]["id"], [name])
        user = GraphQLClient(watched.http, token)
        data = await user.ok("{ employees(first: 500) { nodes { id department } } }")
        assert data["employees"]["nodes"] == [{"id": literals[value], "department": value}]
    assert injection_problems(watched.log.since(mark)) == []


async def test_audit_and_access_log_filters_match_literally(
    watched: Watched, literals: dict[str, str]
) -> None:
    audit = "query($f: AuditFilter) { auditLog(first: 500, filter: $f) { nodes { sequence } } }"
    everything = await watched.admin.ok(audit, {"f": {}})
    assert everything["auditLog"]["nodes"], "the tenant has audit entries"
    mark = watched.log.mark()
    for key in ("actor", "datasheet", "record", "operation", "outcome"):
        for value in OPERATOR_OBJECTS:
            assert_refused(await watched.admin(audit, {"f": {key: value}}), (key, value))
        for value in ("$ne", "$regex", "$where", ".*", '{"$ne": null}'):
            data = await watched.admin.ok(audit, {"f": {key: value}})
            assert data["auditLog"]["nodes"] == [], (key, value)
    extras: list[dict[str, Any]] = [
        {"$where": "sleep(100)"},
        {"$or": [{}]},
        {"since": {"$gt": ""}},
    ]
    for extra in extras:
        assert_refused(await watched.admin(audit, {"f": extra}), extra)
    access = (
        "query($d: String!, $id: ID!) { recordAccess(datasheet: $d, id: $id) "
        "{ nodes { principal } } }"
    )
    for value in OPERATOR_OBJECTS:
        assert_refused(await watched.admin(access, {"d": value, "id": "x"}), value)
        assert_refused(await watched.admin(access, {"d": "employees", "id": value}), value)
    for value in ("$ne", "$regex", ".*"):
        data = await watched.admin.ok(access, {"d": value, "id": value})
        assert data["recordAccess"]["nodes"] == []
    logins = "query($u: ID) { loginHistory(userId: $u) { nodes { principal } } }"
    for value in ("$ne", ".*"):
        data = await watched.admin.ok(logins, {"u": value})
        assert data["loginHistory"]["nodes"] == []
    assert_refused(await watched.admin(logins, {"u": {"$ne": None}}), "userId")
    assert injection_problems(watched.log.since(mark)) == []


async def test_dollar_keys_in_variables_are_ignored(
    watched: Watched, literals: dict[str, str]
) -> None:
    """Variables are matched to the document's declarations by name; a ``$``-key declares
    nothing and changes nothing."""
    query = FILTER_QUERY.format(t="Employee", name="employees")
    expected = await watched.admin.ok(query, {"f": {"department": "Engineering"}})
    mark = watched.log.mark()
    for extra in (
        {"$where": "sleep(100)"},
        {"$f": {"department": {"$ne": None}}},
        {"$ne": None, "$regex": ".*"},
        {"$function": {"body": "function() { return true; }", "args": [], "lang": "js"}},
    ):
        data = await watched.admin.ok(query, {"f": {"department": "Engineering"}, **extra})
        assert data == expected, extra
    # A $-key given instead of the declared variable leaves it unset (no filter at all).
    unfiltered = await watched.admin.ok(query)
    data = await watched.admin.ok(query, {"$f": {"department": "$ne"}})
    assert data == unfiltered
    assert injection_problems(watched.log.since(mark)) == []
