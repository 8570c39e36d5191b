"""The console in a real headless Chromium (Debian's, which scripts/bootstrap installs)
against a real gateway process: an admin signs in with a second factor, builds a role in
the grid, gives it to a new user, and that user sees exactly what the role allows.

Every page is checked with axe-core (no serious or critical violation), no request leaves
the gateway's origin, and the strict CSP is never violated (tests/support/console.py). Set
``ENCLAVE_CONSOLE_SCREENSHOTS=docs`` to write the screenshots the README shows.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.async_api import Browser, expect

from gateway.services import Services
from tests.support.client import GraphQLClient, Tenant, make_tenant
from tests.support.console import Watched, accessible, new_context, shot, sign_in
from tests.support.employees import create_employee
from tests.support.signins import PASSWORD, new_user, next_code

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
async def tenant(services: Services) -> Tenant:
    return await make_tenant(services, "DE", "Console Org")


async def test_an_admin_builds_a_role_that_a_user_then_sees_through(
    chromium: Browser,
    console_url: str,
    watched: list[Watched],
    tenant: Tenant,
    http: Any,
) -> None:
    api = GraphQLClient(http, tenant.token)
    department = f"Sales-{uuid.uuid4().hex[:6]}"
    for _ in range(2):
        await create_employee(api, department=department)
    await create_employee(api, department="Engineering")
    admin_email = await new_user(http, tenant)

    # The admin signs in, enrols a second factor, signs out and back in with a code.
    admin = await new_context(chromium, watched)
    page = await admin.page()
    await page.goto(f"{console_url}/console/?tenant={tenant.id}")
    await accessible(page, "sign-in")
    await sign_in(page, console_url, tenant.id, admin_email)
    await page.get_by_role("link", name="Account").click()
    await page.get_by_role("button", name="Set up two-factor sign-in").click()
    secret = await page.get_by_test_id("totp-secret").inner_text()
    await page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    await accessible(page, "account")
    await page.get_by_role("button", name="Confirm").click()
    await expect(page.get_by_text("Two-factor sign-in is set up")).to_be_visible()
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    await page.get_by_label("Email").fill(admin_email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()  # no code: refused alike
    await expect(page.get_by_role("alert")).to_contain_text("UNAUTHENTICATED")
    await sign_in(page, console_url, tenant.id, admin_email, next_code(secret))

    # A reload keeps the session, and no token is in web storage.
    await page.reload()
    await expect(page.get_by_role("heading", name="Roles")).to_be_visible()
    assert await page.evaluate("[localStorage.length, sessionStorage.length]") == [0, 0]
    cookies = await admin.context.cookies()
    assert [(c["name"], c["httpOnly"], c["sameSite"]) for c in cookies] == [
        ("enclave_refresh", True, "Strict")
    ]

    # A role in the grid: read some fields, mask one, rows of one department only.
    role = f"viewer-{uuid.uuid4().hex[:6]}"
    await page.get_by_role("button", name="New role").click()
    await page.get_by_label("Name", exact=True).fill(role)
    for field in ("firstName", "lastName", "department"):
        await page.get_by_label(f"employees {field} read").check()
    await page.get_by_label("employees phone mask").check()
    await page.get_by_role("button", name="Add a condition on employees").click()
    await page.get_by_label("employees row filter 1 field").select_option("department")
    await page.get_by_label("employees row filter 1 value").fill(department)
    await accessible(page, "roles editor")
    await page.get_by_role("button", name="Create role").click()
    await expect(page.get_by_role("status")).to_contain_text(f"Saved {role} as version 1")
    await shot(page, "roles")

    # A user with that role.
    viewer_email = f"viewer.{uuid.uuid4().hex[:6]}@example.com"
    await page.get_by_role("link", name="Users").click()
    await page.get_by_label("Email").fill(viewer_email)
    await page.get_by_role("checkbox", name=role).check()
    await page.get_by_label("Password (optional").fill(PASSWORD)
    await accessible(page, "users")
    await page.get_by_role("button", name="Create user").click()
    await expect(page.get_by_role("status")).to_contain_text(f"Created {viewer_email}")
    await expect(page.get_by_role("cell", name=viewer_email, exact=True)).to_be_visible()

    # The admin's own row says two-factor on; their sessions list this browser's, with it.
    admin_row = page.get_by_role("row", name=admin_email)
    await expect(admin_row.get_by_role("cell", name="on", exact=True)).to_be_visible()
    await page.get_by_role("button", name=f"Sign-ins and sessions of {admin_email}").click()
    sessions = page.get_by_role("region", name=f"Sessions of {admin_email}")
    await expect(sessions.locator("tbody tr")).not_to_have_count(0)
    await expect(sessions.locator("tbody tr").first).to_contain_text("yes")
    await accessible(page, "users, sessions")

    # The user, in a browser context of their own, sees exactly the role's columns and rows.
    viewer = await new_context(chromium, watched)
    theirs = await viewer.page()
    await sign_in(theirs, console_url, tenant.id, viewer_email)
    await expect(theirs.get_by_role("heading", name="Records")).to_be_visible()
    assert await theirs.get_by_role("link", name="Roles").count() == 0
    table = theirs.get_by_test_id("records")
    await expect(table).to_be_visible()
    headers = await table.locator("thead th").all_inner_texts()
    assert sorted(headers) == ["department", "firstName", "lastName", "phone"]
    rows = await table.locator("tbody tr").all()
    assert len(rows) == 2
    column = {name: i for i, name in enumerate(headers)}
    for row in rows:
        cells = await row.locator("td").all_inner_texts()
        assert cells[column["department"]] == department
        assert cells[column["phone"]].startswith("•••")
    await accessible(theirs, "records")
    await shot(theirs, "records")

    # A stale save: someone else saves version 2 first; the editor shows the conflict.
    await page.get_by_role("link", name="Roles").click()
    await page.get_by_role("button", name=f"{role} v1").click()
    await page.get_by_label("employees lastName read").uncheck()
    await api.ok(
        "mutation($i: RoleInput!) { updateRole(expectedVersion: 1, input: $i) { version } }",
        {"i": {"name": role, "sheets": [{"datasheet": "employees", "read": ["firstName"]}]}},
    )
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.get_by_role("alert")).to_contain_text("CONFLICT")
    conflict = page.get_by_role("region", name="Someone else saved version 2")
    await expect(conflict).to_be_visible()
    await expect(conflict.get_by_role("table")).to_contain_text("department")  # their diff
    await accessible(page, "roles conflict")
    await page.get_by_role("button", name="Save mine over version 2").click()
    await expect(page.get_by_role("status")).to_contain_text(f"Saved {role} as version 3")

    # Versions and a diff between two of them.
    await page.get_by_role("tab", name="Versions").click()
    await page.get_by_role("combobox", name="From version", exact=True).select_option("1")
    await page.get_by_role("combobox", name="To version", exact=True).select_option("3")
    diff = page.get_by_role("table", name="Changes from version 1 to 3")
    await expect(diff).to_contain_text("lastName")
    await accessible(page, "role versions")

    # What can this user see: the same grid, read-only.
    await page.get_by_role("button", name="What can a user see?").click()
    await page.get_by_role("combobox", name="User", exact=True).select_option(label=viewer_email)
    await expect(page.get_by_label("employees phone mask")).to_be_checked()
    await expect(page.get_by_label("employees firstName read")).to_be_disabled()
    await accessible(page, "effective permissions")

    # The audit log shows the role's three versions, and Verify says ok.
    await page.get_by_role("link", name="Audit log").click()
    await page.get_by_label("Datasheet").fill("roles")
    await page.get_by_label("Record").fill(role)
    await page.get_by_role("button", name="Show entries").click()
    audit = page.get_by_test_id("audit")
    await expect(audit.locator("tbody tr")).to_have_count(3)
    await expect(audit).to_contain_text("update")
    await page.get_by_role("button", name="Verify the audit log").click()
    await expect(page.get_by_test_id("verify-result")).to_contain_text("Verified: ok")
    await accessible(page, "audit log")
    await shot(page, "audit")

    # GraphiQL, lazy-loaded into the same origin, runs queries with the session's token.
    await theirs.get_by_role("link", name="GraphiQL").click()
    await expect(theirs.locator(".graphiql-container")).to_be_visible(timeout=20_000)
    await expect(theirs.locator(".graphiql-query-editor")).to_contain_text("query Me")
    response = theirs.locator(".graphiql-response")
    for _ in range(5):  # a click before GraphiQL has set its editor up runs nothing
        await theirs.get_by_role("button", name="Execute query").click()
        try:
            await expect(response).to_contain_text(role, timeout=5_000)
            break
        except AssertionError:
            continue
    await expect(response).to_contain_text(role)
    # GraphiQL's own editor fails axe rules upstream (CodeMirror's unlabelled textareas, its
    # tab bar, contrast); the console around it is checked.
    await accessible(theirs, "graphiql", exclude=".graphiql-container")


async def test_records_api_keys_access_log_and_exports(
    chromium: Browser, console_url: str, watched: list[Watched], tenant: Tenant, http: Any
) -> None:
    api = GraphQLClient(http, tenant.token)
    record = await create_employee(api, department="Support")
    await api.ok(
        'mutation { createRole(input: { name: "integrator", sheets: [{ datasheet: "employees",'
        ' read: ["firstName"] }] }) { version } }'
    )
    admin = await new_context(chromium, watched)
    page = await admin.page()
    email = await new_user(http, tenant)
    users = (await api.ok("{ users { id email } }"))["users"]
    admin_id = next(u["id"] for u in users if u["email"] == email)

    # Signed in with the keyboard alone: labelled fields in order, Enter submits.
    await page.goto(f"{console_url}/console/?tenant={tenant.id}")
    await page.get_by_label("Tenant").focus()
    await page.keyboard.press("Tab")
    await page.keyboard.type(email)
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    await page.keyboard.press("Tab")  # into the page list, then along it to "API keys"
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="API keys")).to_be_focused()

    # An API key: shown once, then listed, then revoked.
    await page.keyboard.press("Enter")
    await expect(page.get_by_text("No API keys yet.")).to_be_visible()
    await page.get_by_label("Name").fill("payroll sync")
    await page.get_by_role("combobox", name="Role").select_option("integrator")
    await page.get_by_role("button", name="Create key").click()
    key = await page.get_by_test_id("new-key").inner_text()
    assert key.startswith("enk_")
    await expect(page.get_by_role("cell", name="payroll sync", exact=True)).to_be_visible()
    await accessible(page, "API keys")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Revoke payroll sync").click()
    await expect(page.get_by_role("cell", name="revoked")).to_be_visible()

    # Records: filter, edit at the version (a stale one is a conflict), archive, restore.
    await page.get_by_role("link", name="Records").click()
    await page.get_by_label("department equals").fill("Support")
    await page.get_by_role("button", name="Filter").click()
    table = page.get_by_test_id("records")
    await expect(table.locator("tbody tr")).to_have_count(1)
    await expect(table).to_contain_text(record["firstName"])
    await page.get_by_role("button", name="Edit").click()
    await page.get_by_label("jobTitle", exact=True).fill("Team lead")
    await accessible(page, "records editor")
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(table).to_contain_text("Team lead")
    await page.get_by_role("button", name="Edit").click()
    await page.get_by_label("jobTitle", exact=True).fill("Manager")
    await api.ok(
        "mutation($id: ID!) { updateEmployee(id: $id, expectedVersion: 2, "
        'input: { jobTitle: "Director" }) { version } }',
        {"id": record["id"]},
    )
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.get_by_role("alert")).to_contain_text("CONFLICT")
    await page.get_by_role("button", name="Cancel").click()
    await page.get_by_role("button", name="Archive").click()
    await expect(page.get_by_text("No records here.")).to_be_visible()
    await page.get_by_label("Show archived records").check()
    await page.get_by_role("button", name="Restore").click()
    await expect(page.get_by_role("button", name="Archive")).to_be_visible()

    # Who saw a record: this admin, on the Records page just now.
    await page.get_by_role("link", name="Access log").click()
    await page.get_by_label("Record id").fill(record["id"])
    seen = page.get_by_role("cell", name=admin_id, exact=True).first
    for _ in range(10):  # the console_url writes access events in batches, every half second
        await page.get_by_role("button", name="Show", exact=True).click()
        try:
            await expect(seen).to_be_visible(timeout=1_000)
            break
        except AssertionError:
            continue
    await expect(seen).to_be_visible()
    await accessible(page, "access log")

    # An export: refused (with its code) until the admin may export, then downloaded
    # through its one-time link.
    await page.get_by_role("link", name="Exports").click()
    await page.get_by_role("combobox", name="Format").select_option("NDJSON")
    await page.get_by_role("button", name="Start the export").click()
    await expect(page.get_by_role("alert")).to_contain_text("FORBIDDEN")
    await page.get_by_role("link", name="Users").click()
    await page.get_by_role("button", name=f"Edit {email}").click()
    await page.get_by_role("checkbox", name="May export").first.check()
    await page.get_by_role("button", name=re.compile(r"^Save \(version \d+\)$")).click()
    await expect(page.get_by_role("row", name=email)).to_contain_text("yes")
    await page.get_by_role("button", name=f"Sign-ins and sessions of {email}").click()
    signins = page.get_by_role("region", name=f"Sign-ins of {email}")
    await expect(signins.get_by_role("row")).not_to_have_count(0)
    await expect(signins).to_contain_text("127.0.0.1")
    await accessible(page, "users, sign-ins")
    await page.get_by_role("link", name="Exports").click()
    await page.get_by_role("combobox", name="Format").select_option("NDJSON")
    await page.get_by_role("button", name="Start the export").click()
    async with page.expect_download() as download:
        await page.get_by_role("link", name="download once").click()
    saved = await (await download.value).path()
    lines = Path(saved).read_text().splitlines()
    assert any(record["id"] in line for line in lines)
    await accessible(page, "exports")
