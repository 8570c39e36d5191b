"""Who is calling: a request with credentials gets its
:class:`~resolvers.context.Principal` in the scope (``enclave.principal``), or is refused
``401 UNAUTHENTICATED``; one without any goes to the *anonymous* app (sign-in only)."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.auth.authenticator import Authenticator, has_credentials
from gateway.middleware.base import PRINCIPAL, Check
from storage.tracing import span

__all__ = ["Authentication"]


class Authentication(Check):
    def __init__(self, app: ASGIApp, authenticator: Authenticator, anonymous: ASGIApp) -> None:
        super().__init__(app)
        self.authenticator = authenticator
        self.anonymous = anonymous

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not has_credentials(Headers(scope=scope)):
            await self.anonymous(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def check(self, scope: Scope, receive: Receive) -> None:
        with span("authenticate") as current:
            principal = await self.authenticator.authenticate(Headers(scope=scope))
            if current is not None:
                current.set_attribute("enclave.principal.kind", principal.kind)  # user, api_key
        PRINCIPAL.put(scope, principal)
