"""The caller's policy (what their roles allow, compiled and cached by
:mod:`resolvers.authz.policycache`) into the scope (``enclave.policy``), and the first use
of a token recorded in the tenant's login history (:mod:`gateway.accesslog`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope

from gateway.accesslog import AccessRecorder
from gateway.auth.authenticator import presented_token
from gateway.middleware.base import POLICY, PRINCIPAL, Check
from resolvers.authz.policycache import PolicyCache

__all__ = ["CallerPolicy"]


class CallerPolicy(Check):
    def __init__(self, app: ASGIApp, policies: PolicyCache, access: AccessRecorder) -> None:
        super().__init__(app)
        self.policies = policies
        self.access = access

    async def check(self, scope: Scope, receive: Receive) -> None:
        principal, request = PRINCIPAL.of(scope), Request(scope)
        policy = await self.policies.policy_for(principal)
        await self.access.login(
            principal,
            policy.roles,
            presented_token(request.headers),
            request.client.host if request.client else None,
            request.headers.get("user-agent"),
        )
        POLICY.put(scope, policy)
