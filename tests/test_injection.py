"""Operator injection through filters, inputs, row filters, audit and access-log filters and
top-level variables (``$where``, ``$ne``, ``$regex``, ``$function``, keys starting with ``$``),
against an in-process gateway whose MongoDB clients report every command they send: each
attempt is refused with ``BAD_USER_INPUT`` or treated as a literal string, no command sent to
the database carries an injected operator, and nothing comes back that only an operator
could have matched. (Generated documents against a live gateway: tests/test_fuzz.py.)
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient, monitoring
from starlette.applications import Starlette

import regions.clients
from gateway.app import create_app
from gateway.services import Services
from gateway.settings import Settings
from schema.datasheets import DATASHEETS
from tests.support.client import GraphQLClient, Tenant, make_tenant
from tests.support.employees import (
    CREATE_EMPLOYEE,
    EMPLOYEE_FIELDS,
    UPDATE_EMPLOYEE,
    create_employee,
    employee_input,
)
from tests.support.injection import OPERATOR_OBJECTS, OPERATOR_STRINGS

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
