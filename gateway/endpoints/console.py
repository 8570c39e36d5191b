"""``/console``: the tenant admins' single-page app (``console/``), served from the gateway's
own origin.

The build (``console/dist``, made by ``scripts/bootstrap``) is static: ``index.html`` for
every page of the app (it routes in the browser), hashed files under ``assets/``. Every
answer carries a strict Content-Security-Policy: scripts, styles and connections only from
this origin, no inline script, no framing. The app talks to ``/graphql`` like any client.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

__all__ = ["CONSOLE_CSP", "DIST", "ConsoleApp"]

DIST = Path(__file__).resolve().parents[2] / "console" / "dist"

CONSOLE_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        # GraphiQL's stylesheet carries its fonts inline as data: URLs (a font runs no code).
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
_HEADERS = ((b"content-security-policy", CONSOLE_CSP.encode()),)


class ConsoleApp:
    """ASGI app mounted at ``/console``: the built files, each with :data:`CONSOLE_CSP`."""

    def __init__(self, dist: Path = DIST) -> None:
        self.dist = dist
        self.assets = StaticFiles(directory=dist / "assets", check_dir=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_csp(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        path = scope.get("path", "")
        root = scope.get("root_path", "")
        inner = path[len(root) :] if path.startswith(root) else path
        if inner.startswith("/assets/"):
            assets_scope = {**scope, "root_path": f"{root}/assets"}
            await self.assets(assets_scope, receive, send_with_csp)
            return
        await self._page(Request(scope, receive), inner)(scope, receive, send_with_csp)

    def _page(self, request: Request, path: str) -> Response:
        if request.method not in ("GET", "HEAD"):
            return PlainTextResponse("method not allowed", status_code=405)
        if "." in path.rsplit("/", 1)[-1]:  # a file, and the build has no such file
            return PlainTextResponse("not found", status_code=404)
        index = self.dist / "index.html"
        if not index.is_file():
            return PlainTextResponse(
                "the console is not built: run scripts/bootstrap", status_code=503
            )
        return FileResponse(index, media_type="text/html")
