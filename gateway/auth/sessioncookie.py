"""Cookie mode of the public sign-in operations: the refresh token in an HttpOnly cookie.

A browser client (the console) must not keep a refresh token where page scripts can read it
(``localStorage``, ``sessionStorage``, JavaScript memory across reloads). It opts into cookie
mode per request with the header ``X-Enclave-Session: cookie``; then

- ``login``, ``activateAccount`` and ``refreshSession`` answer with an empty
  ``refreshToken`` and set the token in the cookie ``enclave_refresh`` instead
  (``HttpOnly; Secure; SameSite=Strict; Path=/graphql``);
- ``refreshSession`` without a ``refreshToken`` argument uses the cookie's, and a refused
  refresh clears the cookie (so does the refresh a client sends after ``logout``).

Cross-site request forgery: the cookie is ``SameSite=Strict``, so a request started by
another site carries none; it is read only with the custom header, which a cross-origin
page cannot send without a CORS preflight this gateway does not grant (the header is not in
``allow_headers``); and a cookie-mode request whose ``Origin`` (or ``Sec-Fetch-Site``)
names another origin is refused with ``FORBIDDEN``. Without the header nothing changes:
the cookie is neither read nor set, and tokens are in the answer as before.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Send

from schema.errors import ForbiddenError

__all__ = ["COOKIE", "HEADER", "SessionCookie"]

COOKIE = "enclave_refresh"
HEADER = "x-enclave-session"
PATH = "/graphql"
MAX_AGE = 30 * 24 * 3600  # the refresh token's own lifetime (gateway.auth.signin.REFRESH_TTL)


class SessionCookie:
    """One cookie-mode request: the refresh token it came with, the one it issues."""

    def __init__(self, sent: str | None) -> None:
        self.sent = sent
        self.issued: str | None = None
        self.refused = False

    @classmethod
    def of(cls, request: Request) -> SessionCookie | None:
        """The request's cookie mode, or None if it did not opt in. ``FORBIDDEN`` if it did
        from another origin."""
        if request.headers.get(HEADER) != "cookie":
            return None
        own = f"{request.url.scheme}://{request.url.netloc}"
        origin = request.headers.get("origin")
        site = request.headers.get("sec-fetch-site")
        if (origin is not None and origin != own) or site not in (None, "same-origin"):
            raise ForbiddenError("cookie sessions are for same-origin requests only")
        return cls(request.cookies.get(COOKIE))

    def issue(self, refresh_token: str) -> None:
        self.issued = refresh_token

    def sending(self, send: Send) -> Send:
        """*send* adding, to the answer, the issued token's cookie, or the clearing of the
        cookie after a refused refresh (known once the operation ran, before it answers)."""

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self._headers()]
            await send(message)

        return send_with_cookie

    def _headers(self) -> list[tuple[bytes, bytes]]:
        response = Response()
        if self.issued is not None or self.refused:
            # Clearing is setting an empty value that expires at once.
            response.set_cookie(
                COOKIE,
                self.issued or "",
                max_age=MAX_AGE if self.issued is not None else 0,
                path=PATH,
                secure=True,
                httponly=True,
                samesite="strict",
            )
        return [(k, v) for k, v in response.raw_headers if k == b"set-cookie"]
