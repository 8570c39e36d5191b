"""The console over HTTP: its files under a strict CSP, GraphiQL's move into it, and cookie
mode of the public sign-in operations (``gateway.auth.sessioncookie``)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from gateway.endpoints.console import CONSOLE_CSP, DIST, ConsoleApp
from tests.support.client import Tenant
from tests.support.signins import LOGIN, PASSWORD, new_user

COOKIE_MODE = {"x-enclave-session": "cookie"}
REFRESH = "mutation { refreshSession { accessToken refreshToken expiresIn } }"


@pytest.fixture
def built(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>console</title>")
    (tmp_path / "assets" / "index-abc.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("not an asset")
    return tmp_path


async def _get(app: ConsoleApp, path: str) -> httpx.Response:
    starlette = Starlette(routes=[Mount("/console", app)])
    transport = httpx.ASGITransport(app=starlette)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        return await client.get(path)


@pytest.mark.parametrize("path", ["/console/", "/console/roles", "/console/users/x"])
async def test_every_page_is_the_app_under_a_strict_csp(built: Path, path: str) -> None:
    page = await _get(ConsoleApp(built), path)
    assert page.status_code == 200 and "<title>console</title>" in page.text
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CONSOLE_CSP
    for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"):
        assert directive in CONSOLE_CSP
    assert "unsafe-inline" not in CONSOLE_CSP and "unsafe-eval" not in CONSOLE_CSP


async def test_assets_are_files_of_the_build_only(built: Path) -> None:
    asset = await _get(ConsoleApp(built), "/console/assets/index-abc.js")
    assert asset.status_code == 200 and asset.text == "console.log(1)"
    assert "javascript" in asset.headers["content-type"]
    assert asset.headers["content-security-policy"] == CONSOLE_CSP
    for outside in ("/console/assets/missing.js", "/console/assets/%2e%2e/secret.txt"):
        missing = await _get(ConsoleApp(built), outside)
        assert missing.status_code == 404 and "not an asset" not in missing.text
    assert (await _get(ConsoleApp(built), "/console/favicon.ico")).status_code == 404


async def test_an_unbuilt_console_says_how_to_build_it(tmp_path: Path) -> None:
    page = await _get(ConsoleApp(tmp_path / "none"), "/console/")
    assert page.status_code == 503 and "scripts/bootstrap" in page.text


async def test_the_gateway_serves_the_build_with_its_security_headers(
    http: httpx.AsyncClient,
) -> None:
    assert (DIST / "index.html").is_file(), "scripts/bootstrap builds the console"
    page = await http.get("/console/")
    assert page.status_code == 200 and '<div id="root">' in page.text
    assert page.headers["content-security-policy"] == CONSOLE_CSP
    assert page.headers["x-frame-options"] == "DENY"
    assert "<script>" not in page.text  # no inline script: only <script src=…>


async def test_graphiql_is_a_page_of_the_console(http: httpx.AsyncClient) -> None:
    page = await http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 307 and page.headers["location"] == "/console/graphiql"


async def _signed_in_with_cookie(http: httpx.AsyncClient, tenant: Tenant) -> httpx.Response:
    email = await new_user(http, tenant)
    return await http.post(
        "/graphql",
        json={"query": LOGIN, "variables": {"t": tenant.id, "e": email, "p": PASSWORD}},
        headers=COOKIE_MODE,
    )


def _cookie(response: httpx.Response) -> tuple[str, str]:
    """The refresh cookie's value and its attributes, from Set-Cookie."""
    (header,) = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    value, _, attributes = header.partition(";")
    name, _, token = value.partition("=")
    assert name == "enclave_refresh"
    return token, attributes.lower()


async def test_cookie_mode_keeps_the_refresh_token_out_of_reach_of_scripts(
    http: httpx.AsyncClient, eu_tenant: Tenant
) -> None:
    login = await _signed_in_with_cookie(http, eu_tenant)
    session = login.json()["data"]["login"]
    assert session["accessToken"] and session["refreshToken"] == ""
    token, attributes = _cookie(login)
    assert token.startswith("ers_")
    for attribute in ("httponly", "secure", "samesite=strict", "path=/graphql"):
        assert attribute in attributes

    # A reload: refreshSession with no argument, from the cookie; the cookie is rotated.
    refreshed = await http.post(
        "/graphql",
        json={"query": REFRESH},
        headers={**COOKIE_MODE, "cookie": f"enclave_refresh={token}"},
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["data"]["refreshSession"]["refreshToken"] == ""
    rotated, _ = _cookie(refreshed)
    assert rotated.startswith("ers_") and rotated != token

    # The old token was used once already: refused, and the cookie is cleared.
    again = await http.post(
        "/graphql",
        json={"query": REFRESH},
        headers={**COOKIE_MODE, "cookie": f"enclave_refresh={token}"},
    )
    assert again.status_code == 401
    cleared, attributes = _cookie(again)
    assert cleared in ("", '""') and "max-age=0" in attributes


async def test_without_the_header_the_cookie_is_neither_read_nor_set(
    http: httpx.AsyncClient, eu_tenant: Tenant
) -> None:
    token, _ = _cookie(await _signed_in_with_cookie(http, eu_tenant))
    plain = await http.post(
        "/graphql", json={"query": REFRESH}, headers={"cookie": f"enclave_refresh={token}"}
    )
    assert plain.status_code == 401 and "set-cookie" not in plain.headers
    assert plain.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    email = await new_user(http, eu_tenant)
    login = await http.post(
        "/graphql",
        json={"query": LOGIN, "variables": {"t": eu_tenant.id, "e": email, "p": PASSWORD}},
    )
    assert login.json()["data"]["login"]["refreshToken"].startswith("ers_")
    assert "set-cookie" not in login.headers


@pytest.mark.parametrize(
    "headers",
    [{"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}],
    ids=["origin", "sec-fetch-site"],
)
async def test_cookie_mode_is_refused_across_origins(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    refused = await http.post(
        "/graphql",
        json={"query": REFRESH},
        headers={**COOKIE_MODE, **headers, "cookie": "enclave_refresh=ers_x_y_z_w"},
    )
    assert refused.status_code == 403 and "set-cookie" not in refused.headers
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    same = await http.post(
        "/graphql", json={"query": REFRESH}, headers={**COOKIE_MODE, "origin": "http://gateway"}
    )
    assert same.status_code == 401  # same origin: let through, and no cookie to refresh from
