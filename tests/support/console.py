"""The console in a real headless Chromium (Debian's, which scripts/bootstrap installs)
against a real gateway process: the fixtures (registered for every test by
``tests/conftest.py``) and the helpers the browser tests share.

``console_url`` is a gateway process serving the console (one per test module);
``chromium`` the browser; ``watched`` the contexts a test opens, each checked at its end:
no request left the gateway's origin and the strict CSP was never violated. ``accessible``
runs axe-core (no serious or critical violation). Set ``ENCLAVE_CONSOLE_SCREENSHOTS=docs``
to write the screenshots the README shows.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from gateway.dev.processes import ChildProcess
from gateway.dev.servers import PROJECT_ROOT
from gateway.endpoints.console import DIST
from gateway.settings import Settings
from tests.support.gateways import gateway_env, running_gateways
from tests.support.signins import PASSWORD

__all__ = ["Watched", "accessible", "new_context", "shot", "sign_in"]

CHROMIUM = "/usr/bin/chromium"
# As polyglot.md's probe starts it: no sandbox as root, and no background connections (the
# machine's network is closed; they would only be refused).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = PROJECT_ROOT / "console" / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = """async (exclude) => {
  const context = exclude ? { exclude: [exclude] } : document;
  const result = await axe.run(context, { resultTypes: ["violations"] });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => v.id + ": " + v.nodes.map((n) => n.target.join(" ")).join(", "));
}"""
SCREENSHOTS = os.environ.get("ENCLAVE_CONSOLE_SCREENSHOTS")


@pytest.fixture(scope="module")
def console_url(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A gateway process serving the console; its base URL."""
    assert (DIST / "index.html").is_file(), "scripts/bootstrap builds the console"
    logs = tmp_path_factory.mktemp("console-gateway")
    with running_gateways(["console"], gateway_env(settings), logs) as gateways:
        gw: ChildProcess = gateways[0]
        yield gw.url


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        await launched.close()


class Watched:
    """A browser context whose every request and every CSP complaint is recorded."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.urls: list[str] = []
        self.csp: list[str] = []
        context.on("request", lambda request: self.urls.append(request.url))

    async def page(self) -> Page:
        page = await self.context.new_page()

        def console(message: Any) -> None:
            if "Content Security Policy" in message.text:
                self.csp.append(f"{message.text} (at {message.location.get('url')})")

        page.on("console", console)
        return page


@pytest.fixture
async def watched(chromium: Browser, console_url: str) -> AsyncIterator[list[Watched]]:
    """The contexts a test opens (``new_context``), checked when it ends."""
    contexts: list[Watched] = []
    yield contexts
    for w in contexts:
        await w.context.close()
        assert not w.csp, w.csp
        leaving = [u for u in w.urls if not u.startswith(console_url + "/")]
        assert not leaving, f"requests left the gateway's origin: {leaving}"
        assert any(u.startswith(console_url + "/console/assets/") for u in w.urls)


async def new_context(browser: Browser, watched: list[Watched]) -> Watched:
    w = Watched(await browser.new_context(viewport={"width": 1280, "height": 1000}))
    watched.append(w)
    return w


async def accessible(page: Page, where: str, exclude: str | None = None) -> None:
    """No serious or critical axe-core violation on the page as it is now, but in the
    *exclude* selector. (axe goes in through the DevTools protocol: the page's CSP rightly
    refuses an injected script tag.)"""
    if not await page.evaluate("typeof axe !== 'undefined'"):
        await page.evaluate(AXE.read_text())
    violations = await page.evaluate(SERIOUS, exclude)
    assert violations == [], f"{where}: {violations}"


async def shot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        await page.screenshot(path=str(Path(SCREENSHOTS) / f"console-{name}.png"), full_page=True)


async def sign_in(page: Page, url: str, tenant: str, email: str, code: str = "") -> None:
    await page.goto(f"{url}/console/?tenant={tenant}")
    await expect(page.get_by_role("heading", name="Sign in to the Enclave console")).to_be_visible()
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("Authentication code").fill(code)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
