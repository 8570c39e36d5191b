"""An incident's impact and its report's numbers are what the compromised key received in
the incident's window, measured from the access log: the records it read, their fields and
categories; nothing another principal read, nothing the key read before the window."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from starlette.applications import Starlette

from gateway.services import Services
from resolvers.breach.impact import measure_impact
from schema.errors import BadUserInputError
from storage.incidentvalues import Compromised
from tests.support.client import GraphQLClient, make_tenant
from tests.support.clock import moment
from tests.support.employees import create_employee, marker
from tests.support.roles import make_role

CREATE_KEY = """mutation { createApiKey(name: "leaked", role: "names") { key apiKey { id } } }"""
OPEN = """mutation($input: OpenIncidentInput!) { openIncident(input: $input) { id } }"""
IMPACT = """query($id: ID!) { incident(id: $id) { impact {
  principals dataSubjects records categories
  sheets { datasheet fields categories recordsRead records } } } }"""
FILE = """mutation($id: ID!) {
  fileIncidentReport(id: $id, input: {}) { document } }"""
BY_ID = "query($id: ID!) { employee(id: $id) { id lastName } }"


async def test_an_incident_measures_what_its_key_received_and_reports_it(
    app: Starlette, http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "FR", "Incident Impact")
    admin = GraphQLClient(http, tenant.token)
    team = marker("Team")
    people = [await create_employee(admin, department=team) for _ in range(3)]
    await make_role(
        admin,
        "names",
        read=["lastName", "department"],
        rowFilter={"equals": [{"field": "department", "value": team}]},
    )
    created = (await admin.ok(CREATE_KEY))["createApiKey"]
    key_id = created["apiKey"]["id"]

    async def as_key(query: str, variables: dict[str, object]) -> None:
        response = await http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"x-api-key": created["key"]},
        )
        assert "errors" not in response.json(), response.text

    flush = app.state.services.access.flush
    await as_key(BY_ID, {"id": people[2]["id"]})  # before the window: not counted
    await flush()
    since = await moment()
    for person in people[:2]:
        await as_key(BY_ID, {"id": person["id"]})
    await admin.ok("{ employees(first: 50) { nodes { id salary } } }")  # not the key's
    await flush()

    variables = {
        "input": {
            "compromised": [{"kind": "API_KEY", "id": key_id}],
            "windowStart": since.isoformat(),
            "nature": "A key was pasted into a public issue tracker",
        }
    }
    incident = (await admin.ok(OPEN, variables))["openIncident"]["id"]
    impact = (await admin.ok(IMPACT, {"id": incident}))["incident"]["impact"]
    read = sorted(p["id"] for p in people[:2])
    assert impact["principals"] == [key_id]
    assert impact["dataSubjects"] == impact["records"] == 2
    assert impact["categories"] == ["identity"]
    assert impact["sheets"] == [
        {
            "datasheet": "employees",
            "fields": ["lastName"],
            "categories": ["identity"],
            "recordsRead": 2,
            "records": read,
        }
    ]

    document = (await admin.ok(FILE, {"id": incident}))["fileIncidentReport"]["document"]
    assert document["dataSubjects"]["approximateNumber"] == 2
    assert document["records"]["perDatasheet"][0]["records"] == 2
    assert document["dataCategories"] == ["identity"]
    assert document["likelyConsequences"] and "none known" not in document["likelyConsequences"][0]
    # Ids, names and counts only: no value of a record in the report.
    assert all(p["lastName"] not in str(document) for p in people)


async def test_one_impact_per_request_and_a_bounded_read(
    app: Starlette, http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "FR", "Impact Bounds")
    admin = GraphQLClient(http, tenant.token)
    since = await moment()
    for _ in range(3):
        await create_employee(admin)
    await admin.ok("{ employees(first: 10) { nodes { id lastName } } }")
    await app.state.services.access.flush()
    variables = {
        "input": {
            "compromised": [{"kind": "USER", "id": tenant.admin_id}],
            "windowStart": since.isoformat(),
        }
    }
    incident = (await admin.ok(OPEN, variables))["openIncident"]["id"]

    # Aliases (or a list of incidents) cannot multiply the logs read by one request.
    twice = await admin(
        "query($id: ID!) { a: incident(id: $id) { impact { records } } "
        "b: incident(id: $id) { impact { records } } }",
        {"id": incident},
    )
    assert twice["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert twice["errors"][0]["extensions"]["limit"] == "impacts"
    await admin.ok(OPEN, variables)  # a second incident: the list has two impacts to measure
    listed = await admin("{ incidents(first: 5) { nodes { impact { records } } } }")
    assert [e["extensions"]["limit"] for e in listed["errors"]] == ["impacts"]
    one = (await admin.ok(IMPACT, {"id": incident}))["incident"]["impact"]
    assert one["records"] == 3 and one["principals"] == [tenant.admin_id]

    # A window whose logs are longer than the bound is refused, not counted in part.
    store = services.store.for_tenant(tenant.id)
    admin_user = [Compromised("user", tenant.admin_id)]
    until = dt.datetime.now(dt.UTC)
    with pytest.raises(BadUserInputError) as refused:
        await measure_impact(store, admin_user, since, until, max_events=2)
    assert refused.value.extensions["limit"] == "impactEvents"
    assert (await measure_impact(store, admin_user, since, until)).records == 3


async def test_times_out_of_range_are_bad_input_and_open_nothing(
    http: httpx.AsyncClient, services: Services
) -> None:
    tenant = await make_tenant(services, "FR", "Impact Times")
    admin = GraphQLClient(http, tenant.token)
    user = [{"kind": "USER", "id": tenant.admin_id}]
    query = """query($c: [CompromisedInput!]!, $s: DateTime!, $u: DateTime) {
      breachImpact(compromised: $c, since: $s, until: $u) { records } }"""
    for since, until in (
        ("0001-01-01T00:00:00+14:00", None),  # before year 1 in UTC: no such time
        ("2026-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00"),  # after year 9999 in UTC
        ("1999-12-31T00:00:00Z", None),
    ):
        body = await admin(query, {"c": user, "s": since, "u": until})
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    late = {"windowStart": "9999-12-31T23:59:59-14:00"}
    early = {"windowStart": "2026-01-01T00:00:00Z", "detectedAt": "0001-01-01T00:00:00+01:00"}
    for window in (late, early):
        body = await admin(OPEN, {"input": {"compromised": user, **window}})
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    assert (await admin.ok("{ incidents(first: 5) { nodes { id } } }"))["incidents"]["nodes"] == []
    # A time without an offset is UTC.
    naive = {
        "compromised": user,
        "windowStart": "2026-01-01T00:00:00",
        "detectedAt": "2026-01-02T00:00:00",
    }
    opened = await admin.ok(
        "mutation($input: OpenIncidentInput!) { openIncident(input: $input) { deadline } }",
        {"input": naive},
    )
    assert opened["openIncident"]["deadline"].startswith("2026-01-05T00:00:00")
