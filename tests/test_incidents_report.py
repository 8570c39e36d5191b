"""The report to the supervisory authority (Art. 33(3)): built from an incident and a
measured impact, filed in versions (Art. 33(4)), late ones only with the reason for the
delay, readable as HTML; the tenant's contact point kept encrypted; platform incidents an
operator opens with the CLI, seen by the tenant's admins."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from gateway.services import Services
from gateway.settings import Settings
from regions.routing import database_name
from resolvers.breach.report import build_report
from resolvers.breach.reporthtml import render_html
from resolvers.breach.values import Impact, SheetImpact
from storage.values import ContainmentAction, Incident, TenantContact
from tests.support.client import GraphQLClient, make_tenant
from tests.support.operator import enclave, enclave_json
from tests.support.raw import is_ciphertext, plain_client

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
FILE = """mutation($id: ID!, $input: IncidentReportInput!) {
  fileIncidentReport(id: $id, input: $input) { version late delayReason document html } }"""
OPEN = """mutation($input: OpenIncidentInput!) { openIncident(input: $input) { id version } }"""
CONTACT = """mutation($input: TenantContactInput!) {
  setTenantContact(input: $input) { name email phone } }"""
STATE = "query($id: ID!) { incident(id: $id) { state version overdue reports { version } } }"


def _incident(**changes: Any) -> Incident:
    values: dict[str, Any] = {
        "id": "01HZZZZZZZZZZZZZZZZZZZZZZZ",
        "state": "confirmed",
        "version": 2,
        "origin": "admin",
        "rule": None,
        "nature": "An API key was published in a public repository",
        "compromised": (),
        "window_start": NOW - dt.timedelta(days=2),
        "window_end": NOW - dt.timedelta(days=1),
        "detected_at": NOW - dt.timedelta(hours=10),
        "containment": (
            ContainmentAction(
                NOW - dt.timedelta(hours=9), "revoke_api_key", "api_key:k", "revoked"
            ),
        ),
    }
    return Incident(**{**values, **changes})


IMPACT = Impact(
    principals=("k",),
    since=NOW - dt.timedelta(days=2),
    until=NOW - dt.timedelta(days=1),
    sheets=(
        SheetImpact(
            "employees",
            ("email", "salary"),
            ("contact", "financial"),
            3,
            2,
            1,
            0,
            ("e1", "e2", "e3", "e4"),
        ),
        SheetImpact("contacts", ("phone",), ("contact",), 2, 0, 0, 0, ("c1", "c2")),
    ),
    exports_downloaded=1,
)


def test_the_report_holds_what_article_33_3_asks_for() -> None:
    contact = TenantContact("Data Protection Officer", "dpo@example.com", "+49 30 1")
    doc = build_report(_incident(), IMPACT, contact, submitted_at=NOW)
    assert doc["nature"]["description"] == "An API key was published in a public repository"
    assert doc["dataCategories"] == ["contact", "financial"]
    assert doc["dataSubjects"] == {"approximateNumber": 6, "categories": ["contacts", "employees"]}
    assert doc["records"]["approximateNumber"] == 6 and doc["records"]["exportsDownloaded"] == 1
    sheets = {s["datasheet"]: s for s in doc["records"]["perDatasheet"]}
    assert (sheets["employees"]["read"], sheets["employees"]["exported"]) == (3, 2)
    assert doc["contactPoint"] == {
        "name": contact.name,
        "email": contact.email,
        "phone": contact.phone,
    }
    assert len(doc["likelyConsequences"]) == 2  # one per category
    assert doc["measures"] == ["2026-03-02T03:00:00+00:00: revoke_api_key (api_key:k): revoked"]
    assert doc["timing"]["late"] is False and doc["timing"]["delayReason"] is None
    given = build_report(
        _incident(), IMPACT, None, submitted_at=NOW + dt.timedelta(days=3),
        likely_consequences="phishing", measures="keys rotated", delay_reason="forensics",
    )  # fmt: skip
    assert (given["likelyConsequences"], given["measures"]) == (["phishing"], ["keys rotated"])
    assert given["timing"]["late"] is True and given["contactPoint"] is None


def test_the_html_escapes_everything_and_runs_nothing() -> None:
    hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    doc = build_report(_incident(nature=hostile), IMPACT, None, submitted_at=NOW)
    page = render_html(doc)
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "onerror=" not in page.replace("onerror=alert(2)&gt;", "")
    for heading in ("Nature of the breach", "Contact point", "Likely consequences", "Measures"):
        assert heading in page


async def test_reports_are_versioned_late_ones_need_a_reason(
    http: httpx.AsyncClient, services: Services, settings: Settings
) -> None:
    tenant = await make_tenant(services, "DE", "Report Org")
    admin = GraphQLClient(http, tenant.token)
    assert (await admin.ok("{ tenantContact { name } }"))["tenantContact"] is None
    dpo = {"name": "Jane <DPO>", "email": "DPO@Example.com", "phone": "+49 30 2"}
    assert (await admin.ok(CONTACT, {"input": dpo}))["setTenantContact"][
        "email"
    ] == "dpo@example.com"
    compromised = [{"kind": "USER", "id": tenant.admin_id}]
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(days=4)).isoformat()
    fresh = await admin.ok(OPEN, {"input": {"compromised": compromised, "windowStart": start}})
    incident = fresh["openIncident"]["id"]

    first = (await admin.ok(FILE, {"id": incident, "input": {}}))["fileIncidentReport"]
    assert (first["version"], first["late"]) == (1, False)
    assert first["document"]["contactPoint"]["name"] == "Jane <DPO>"
    assert "Jane &lt;DPO&gt;" in first["html"] and "<script" not in first["html"]
    state = (await admin.ok(STATE, {"id": incident}))["incident"]
    assert state["state"] == "REPORTED" and state["overdue"] is False
    update = {"measures": "all staff passwords reset", "likelyConsequences": "phishing"}
    second = (await admin.ok(FILE, {"id": incident, "input": update}))["fileIncidentReport"]
    assert second["version"] == 2 and second["document"]["measures"] == [update["measures"]]
    assert [
        r["version"] for r in (await admin.ok(STATE, {"id": incident}))["incident"]["reports"]
    ] == [1, 2]

    detected = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=80)).isoformat()
    old = await admin.ok(
        OPEN, {"input": {"compromised": compromised, "windowStart": start, "detectedAt": detected}}
    )
    late_id = old["openIncident"]["id"]
    assert (await admin.ok(STATE, {"id": late_id}))["incident"]["overdue"] is True
    refused = await admin(FILE, {"id": late_id, "input": {}})
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert (await admin.ok(STATE, {"id": late_id}))["incident"]["reports"] == []
    filed = await admin.ok(FILE, {"id": late_id, "input": {"delayReason": "forensic imaging"}})
    assert filed["fileIncidentReport"]["late"] is True
    assert filed["fileIncidentReport"]["delayReason"] == "forensic imaging"

    client = plain_client(settings, "eu")  # as a database operator sees it
    try:
        db = client[database_name(tenant.id)]
        stored = await db["incidents"].find_one({"_id": incident})
        assert stored is not None
        assert all(is_ciphertext(stored[f]) for f in ("history", "containment", "reports"))
        contact = await db["tenant_contact"].find_one({})
        assert contact is not None and is_ciphertext(contact["contact"])
    finally:
        await client.close()


async def test_operators_open_platform_incidents_the_tenant_sees(
    http: httpx.AsyncClient, services: Services, settings: Settings
) -> None:
    tenant = await make_tenant(services, "DE", "Platform Org")
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    out = enclave_json(
        settings, "incidents", "open", "--tenant", tenant.id, "--nature",
        "database backup exposed", "--since", since,
    )  # fmt: skip
    assert set(out) == {"tenant", "incident", "state", "detectedAt", "deadline"}
    admin = GraphQLClient(http, tenant.token)
    seen = await admin.ok(
        "{ incidents { nodes { id origin nature state compromised { kind id } hoursLeft } } }"
    )
    (node,) = seen["incidents"]["nodes"]
    assert node["id"] == out["incident"] and node["origin"] == "operator"
    assert node["compromised"] == [{"kind": "PLATFORM", "id": None}]
    assert node["nature"] == "database backup exposed" and 71 < node["hoursLeft"] <= 72
    log = await admin.ok(
        '{ auditLog(filter: {datasheet: "incidents"}) { nodes { actorKind actorId } } }'
    )
    assert log["auditLog"]["nodes"] == [{"actorKind": "operator", "actorId": "operator"}]
    unknown = enclave(settings, "incidents", "open", "--tenant", "eu_01hzzzzzzzzzzzzzzzzzzzzzzz",
                      "--nature", "x", "--since", since)  # fmt: skip
    assert unknown.returncode == 1 and "no tenant" in unknown.stderr
