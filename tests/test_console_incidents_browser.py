"""The console's incident pages (issue 19) in a real headless Chromium against a real
gateway process: an admin opens an incident naming an API key that read records, sees its
72-hour clock, contains it (the key is revoked), sees the impact the key's reads made,
files the authority report and views it, starts the notification export, and a stale
state change shows the conflict. axe-core finds no serious violation on any of its pages,
no request leaves the gateway's origin and the CSP is never violated (tests/support/console).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

import httpx
import pytest
from playwright.async_api import Browser, expect
from starlette.applications import Starlette

from gateway.services import Services
from storage.incidentvalues import Compromised
from tests.support.client import GraphQLClient, make_tenant
from tests.support.console import Watched, accessible, new_context, shot, sign_in
from tests.support.employees import create_employee
from tests.support.roles import make_role
from tests.support.signins import PASSWORD

pytestmark = pytest.mark.browser

CREATE_ADMIN = """mutation($e: String!, $p: String) {
  createUser(email: $e, roles: ["admin"], canExport: true, password: $p) { id } }"""
CREATE_KEY = """mutation($r: String!) {
  createApiKey(name: "leaked sync", role: $r) { key apiKey { id } } }"""
INCIDENT = "query($id: ID!) { incident(id: $id) { state version } }"
CHANGE = """mutation($id: ID!, $v: Int!) {
  changeIncidentState(id: $id, state: CLOSED, expectedVersion: $v) { version } }"""


async def test_an_admin_opens_contains_and_reports_an_incident(
    chromium: Browser,
    console_url: str,
    watched: list[Watched],
    app: Starlette,
    http: httpx.AsyncClient,
    services: Services,
) -> None:
    tenant = await make_tenant(services, "DE", "Incident Org")
    api = GraphQLClient(http, tenant.token)
    records = [await create_employee(api) for _ in range(3)]
    await make_role(api, "sync", read=["firstName", "workEmail"])
    created = (await api.ok(CREATE_KEY, {"r": "sync"}))["createApiKey"]
    key_id = created["apiKey"]["id"]
    # The key (about to leak) reads two records; the access log has them once flushed.
    read = await http.post(
        "/graphql",
        json={"query": "{ employees(first: 2) { nodes { id firstName workEmail } } }"},
        headers={"x-api-key": created["key"]},
    )
    seen = {n["id"] for n in read.json()["data"]["employees"]["nodes"]}
    assert len(seen) == 2 and seen <= {r["id"] for r in records}
    await app.state.services.access.flush()
    email = f"dpo.{uuid.uuid4().hex[:6]}@example.com"
    await api.ok(CREATE_ADMIN, {"e": email, "p": PASSWORD})

    admin = await new_context(chromium, watched)
    page = await admin.page()
    await sign_in(page, console_url, tenant.id, email)
    await page.get_by_role("link", name="Incidents").click()
    await expect(page.get_by_text("No incidents.")).to_be_visible()

    # The contact point the report names.
    await page.get_by_label("Contact name").fill("Data Protection Officer")
    await page.get_by_label("Contact email").fill("dpo@example.com")
    await page.get_by_role("button", name="Save the contact point").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved: Data Protection Officer")
    await accessible(page, "incidents")

    # Open an incident naming the key, by its name.
    await page.get_by_role("combobox", name="Compromised 1 kind").select_option("API_KEY")
    await page.get_by_role("combobox", name="Compromised 1 which").select_option(
        label="leaked sync"
    )
    await page.get_by_label("Nature of the breach").fill("Key published in a public repository")
    await page.get_by_role("button", name="Open the incident").click()
    heading = page.get_by_role("heading", name=re.compile(r"^Incident "))
    await expect(heading).to_be_visible()
    incident_id = (await heading.inner_text()).removeprefix("Incident ")

    # The 72-hour clock, just started; the impact is the key's two records, one datasheet.
    await expect(page.get_by_test_id("clock")).to_contain_text(re.compile(r"^7[12] h \d+ min left"))
    await expect(page.get_by_test_id("incident-state")).to_contain_text("confirmed")
    impact = page.get_by_test_id("impact")
    await expect(impact.locator("tbody tr")).to_have_count(1)
    row = await impact.locator("tbody tr td").all_inner_texts()
    assert row[0] == "employees"
    assert row[3] == "2"  # records read
    assert "workEmail" in row[2] and "firstName" in row[2]
    await expect(page.get_by_test_id("impact-summary")).to_contain_text("2 data subjects")
    await accessible(page, "incident")

    # Contain: the key is revoked, on the log with a time.
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Contain", exact=True).click()
    log = page.get_by_test_id("containment")
    await expect(log.locator("tbody tr")).not_to_have_count(0)
    await expect(log).to_contain_text(key_id)
    keys = (await api.ok("{ apiKeys { id revoked } }"))["apiKeys"]
    assert [k["revoked"] for k in keys if k["id"] == key_id] == [True]

    # The notification list, through a one-time export link, and the text to send.
    await page.get_by_role("button", name="Export the notification list").click()
    async with page.expect_download() as download:
        await page.get_by_role("link", name="download the list once").click()
    listed = (await (await download.value).path()).read_text()
    assert all(r["id"] in listed for r in records if r["id"] in seen)
    assert not any(r["id"] in listed for r in records if r["id"] not in seen)
    await page.get_by_role("button", name="Show the notification text").click()
    await expect(page.get_by_test_id("notification-text")).not_to_be_empty()

    # The authority report: filed in time, listed, viewed (sandboxed HTML).
    await page.get_by_label("Likely consequences").fill("Phishing against the employees")
    await page.get_by_role("button", name="File the report").click()
    await expect(page.get_by_text("Filed report version 1")).to_be_visible()
    reports = page.get_by_test_id("reports")
    await expect(reports.locator("tbody tr")).to_have_count(1)
    await expect(reports.locator("tbody tr td").nth(2)).to_have_text("yes")
    await expect(page.get_by_test_id("incident-state")).to_contain_text("reported")
    await expect(page.get_by_test_id("clock")).to_contain_text("clock stopped: reported")
    await page.get_by_role("button", name="View version 1").click()
    frame = page.frame_locator("iframe[title='Report version 1']")
    await expect(frame.locator("body")).to_contain_text("Phishing against the employees")
    await expect(frame.locator("body")).to_contain_text("dpo@example.com")
    await accessible(page, "incident, reported")
    await shot(page, "incident")

    # A stale state change: someone else closed it first; the page shows the conflict.
    version = (await api.ok(INCIDENT, {"id": incident_id}))["incident"]["version"]
    stale = page.get_by_role("button", name=f"Mark closed (version {version})")
    await expect(stale).to_be_visible()
    await api.ok(CHANGE, {"id": incident_id, "v": version})
    await stale.click()
    await expect(page.get_by_role("alert")).to_contain_text("CONFLICT")
    conflict = page.get_by_role("region", name="Someone else changed this incident")
    await expect(conflict).to_contain_text(f"it is now version {version + 1}, closed")
    await accessible(page, "incident conflict")

    # The list: the incident with its state; a filter that matches nothing says so.
    await page.get_by_role("link", name="All incidents").click()
    table = page.get_by_test_id("incidents")
    await expect(table.locator("tbody tr")).to_have_count(1)
    await expect(table).to_contain_text("closed")
    await page.get_by_role("combobox", name="State").select_option("DISMISSED")
    await expect(page.get_by_text("No dismissed incidents.")).to_be_visible()
    await accessible(page, "incidents, filtered")


LOCAL = """(ago) => {
  const d = new Date(Date.now() - ago);
  d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
  return d.toISOString().slice(0, 16);
}"""


async def test_a_late_report_needs_the_reason_for_the_delay(
    chromium: Browser,
    console_url: str,
    watched: list[Watched],
    http: httpx.AsyncClient,
    services: Services,
) -> None:
    tenant = await make_tenant(services, "DE", "Late Org")
    api = GraphQLClient(http, tenant.token)
    email = f"dpo.{uuid.uuid4().hex[:6]}@example.com"
    await api.ok(CREATE_ADMIN, {"e": email, "p": PASSWORD})
    victim = f"victim.{uuid.uuid4().hex[:6]}@example.com"
    victim_id = (await api.ok(CREATE_ADMIN, {"e": victim, "p": PASSWORD}))["createUser"]["id"]

    admin = await new_context(chromium, watched)
    page = await admin.page()
    await sign_in(page, console_url, tenant.id, email)
    await page.get_by_role("link", name="Incidents").click()

    # A user's account, known to be compromised since 80 hours ago: past the deadline.
    hour = 3_600_000
    await page.get_by_role("combobox", name="Compromised 1 which").select_option(label=victim)
    await page.get_by_label("Window start").fill(await page.evaluate(LOCAL, 96 * hour))
    await page.get_by_label("Became known at").fill(await page.evaluate(LOCAL, 80 * hour))
    await page.get_by_role("button", name="Open the incident").click()
    clock = page.get_by_test_id("clock")
    await expect(clock).to_contain_text(re.compile(r"^overdue by [78] h \d+ min"))
    await expect(clock).to_have_class(re.compile(r"\boverdue\b"))

    # Contained with the keyboard alone: the user's sessions end, a new password is needed.
    await page.get_by_role("button", name="Contain", exact=True).focus()
    page.once("dialog", lambda dialog: dialog.accept())
    await page.keyboard.press("Enter")
    log = page.get_by_test_id("containment")
    await expect(log.locator("tbody tr")).not_to_have_count(0)
    await expect(log).to_contain_text(victim_id)

    # The list says it is overdue too.
    await page.get_by_role("link", name="All incidents").click()
    row = page.get_by_test_id("incidents").locator("tbody tr")
    await expect(row).to_have_count(1)
    await expect(row.get_by_test_id("clock")).to_contain_text("overdue by")
    await accessible(page, "incidents, overdue")
    await row.get_by_role("link").click()

    # The report form asks for the reason for the delay, and the report is kept as late.
    reason = page.get_by_label("Reason for the delay")
    await expect(reason).to_have_attribute("required", "")
    await reason.fill("The breach was found in a weekend backlog")
    await page.get_by_role("button", name="File the report").click()
    await expect(page.get_by_text("Filed report version 1 (late)")).to_be_visible()
    reports = page.get_by_test_id("reports")
    await expect(reports.locator("tbody tr td").nth(2)).to_have_text("late")
    await expect(reports).to_contain_text("The breach was found in a weekend backlog")
    await accessible(page, "incident, late report")


async def test_a_suspected_incident_is_confirmed_from_the_page(
    chromium: Browser,
    console_url: str,
    watched: list[Watched],
    http: httpx.AsyncClient,
    services: Services,
) -> None:
    tenant = await make_tenant(services, "DE", "Suspect Org")
    api = GraphQLClient(http, tenant.token)
    email = f"dpo.{uuid.uuid4().hex[:6]}@example.com"
    user_id = (await api.ok(CREATE_ADMIN, {"e": email, "p": PASSWORD}))["createUser"]["id"]
    # A detection rule opens a suspected incident (as gateway.detection does).
    now = dt.datetime.now(dt.UTC)
    store = services.store.for_tenant(tenant.id)
    opened = await store.incidents.open_suspected(
        "probing", [Compromised(kind="user", id=user_id)], now - dt.timedelta(hours=1), now,
        "Many FORBIDDEN answers in an hour",
    )  # fmt: skip
    assert opened is not None

    admin = await new_context(chromium, watched)
    page = await admin.page()
    await sign_in(page, console_url, tenant.id, email)
    await page.get_by_role("link", name="Incidents").click()
    await page.get_by_role("combobox", name="State").select_option("SUSPECTED")
    row = page.get_by_test_id("incidents").locator("tbody tr")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("detection: probing")
    await row.get_by_role("link").click()

    # Not reportable until confirmed; confirmed with a note, which the history keeps.
    await expect(page.get_by_text("Confirm the incident to report it.")).to_be_visible()
    await page.get_by_label("Note (optional)").fill("Confirmed with the user")
    await page.get_by_role("button", name="Mark confirmed (version 1)").click()
    await expect(page.get_by_test_id("incident-state")).to_contain_text("confirmed (version 2)")
    history = page.get_by_role("table", name="State changes")
    await expect(history).to_contain_text("Confirmed with the user")
    await expect(page.get_by_role("button", name="File the report")).to_be_visible()
    await accessible(page, "incident, confirmed")
