"""``/graphql`` without credentials: only sign-in operations (``login``, ``refreshSession``,
``activateAccount``), one per request, on a schema of their own; anything else is ``401``.
In cookie mode the refresh token travels in a cookie (:mod:`gateway.auth.sessioncookie`)."""

from __future__ import annotations

from typing import Any

import orjson
from graphql import GraphQLError, parse
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry import Schema
from strawberry.asgi import GraphQL

from gateway.auth.sessioncookie import SessionCookie
from gateway.auth.signin import REFUSED, SETUP_CODE_REFUSED, refresh_tenant, validate_password
from gateway.middleware.base import BODY, ScopeKey, replaying
from gateway.refusals import error_response, serve_graphql
from gateway.services import Services
from resolvers.context import Principal
from resolvers.documents import root_fields
from resolvers.public import PUBLIC_FIELDS, PublicContext
from schema.errors import (
    BadUserInputError,
    EnclaveError,
    RateLimitedError,
    UnauthenticatedError,
)
from storage.values import Actor

__all__ = ["PublicEndpoint", "PublicGraphQL", "public_root_fields"]

#: The request's cookie mode (None if it did not opt in), from the endpoint to the context.
COOKIE = ScopeKey[SessionCookie | None]("enclave.cookie")


def public_root_fields(query: str, max_tokens: int) -> list[str] | None:
    """The root field names of every operation in *query*, once per field, aliases
    included (None if it has fragments at the root, which sign-in never needs). Parsing
    stops past *max_tokens*: an anonymous body is parsed no further than an authenticated one."""
    return root_fields(parse(query, max_tokens=max_tokens))


class PublicEndpoint:
    """Refuses all but one sign-in operation, then hands over to :class:`PublicGraphQL`.
    The steps before it bounded the body and checked that it is a GraphQL request."""

    def __init__(self, schema: Schema, services: Services) -> None:
        self.graphql = PublicGraphQL(schema, services)
        self.max_tokens = services.settings.max_tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = BODY.of(scope)
        try:
            self.check(orjson.loads(body)["query"])
            cookie = SessionCookie.of(Request(scope, receive))
        except EnclaveError as exc:
            await error_response(exc)(scope, receive, send)
            return
        COOKIE.put(scope, cookie)
        await self.graphql(
            scope, replaying(body, receive), cookie.sending(send) if cookie else send
        )

    def check(self, query: str) -> None:
        max_tokens = self.max_tokens
        try:
            fields = public_root_fields(query, max_tokens)
        except GraphQLError as exc:
            if "tokens" in exc.message:  # graphql-core stopped parsing at the limit
                raise BadUserInputError(
                    f"the document has more than {max_tokens} tokens",
                    limit="tokens",
                    max=max_tokens,
                ) from None
            fields = None
        if fields is None or not fields or not set(fields) <= PUBLIC_FIELDS:
            raise UnauthenticatedError("authentication required")
        if len(fields) > 1:
            # One sign-in per request: aliases cannot multiply the hashing one request
            # costs (even while limits fail open), and the status is that of its answer.
            raise BadUserInputError("one sign-in operation per request", field="query")


class PublicGraphQL(GraphQL[PublicContext, None]):
    def __init__(self, schema: Schema, services: Services) -> None:
        super().__init__(schema, graphql_ide=None, allow_queries_via_get=False)
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await serve_graphql(self, scope, receive, send)

    async def get_context(self, request: Any, response: Any) -> PublicContext:
        client = request.client.host if request.client else None
        agent = request.headers.get("user-agent")
        cookie = COOKIE.get(request.scope)
        return PublicContext(_RecordedSignIn(self.services, client, agent), client, agent, cookie)

    def create_response(self, response_data: Any, sub_response: Any) -> Response:
        """A refused sign-in is 401 (429 with ``Retry-After`` over a limit), as a refused
        token is: the same status for the same answer."""
        response = super().create_response(response_data, sub_response)
        errors = response_data.get("errors") if isinstance(response_data, dict) else None
        extensions = (errors[0].get("extensions") or {}) if errors else {}
        if extensions.get("code") == UnauthenticatedError.code:
            response.status_code = UnauthenticatedError.http_status
            response.headers["www-authenticate"] = "Bearer"
        elif extensions.get("code") == RateLimitedError.code:
            response.status_code = RateLimitedError.http_status
            response.headers["retry-after"] = str(extensions.get("retryAfter", 1))
        return response


class _RecordedSignIn:
    """Sign-in, rate-limited per client address and per tenant, that records each
    successful sign-in in the tenant's login history."""

    def __init__(self, services: Services, ip: str | None, agent: str | None) -> None:
        self._services = services
        self._ip = ip
        self._agent = agent

    async def _active(self, tenant_id: str, password: str, refused: str) -> None:
        """Count the attempt, then check the tenant: an unknown or inactive one is refused
        after the same work as a wrong password (no tenant-existence oracle)."""
        await self._services.limits.check_signin(self._ip, tenant_id)
        try:
            await self._services.tenants.require_active(tenant_id)
        except UnauthenticatedError:
            await self._services.signin.refuse(tenant_id, password, refused)

    async def login(self, tenant_id: str, email: str, password: str, code: str | None) -> Any:
        await self._active(tenant_id, password, REFUSED)
        try:
            signed_in = await self._services.signin.login(tenant_id, email, password, code)
        except UnauthenticatedError:
            # An active tenant's failed sign-in: its detection rules look at it next pass.
            await self._services.detector.mark((tenant_id,))
            raise
        return await self._recorded(signed_in)

    async def activate(
        self, tenant_id: str, email: str, code: str, password: str, two_factor: str | None
    ) -> Any:
        validate_password(password)  # refused alike whether the tenant exists or not
        await self._active(tenant_id, password, SETUP_CODE_REFUSED)
        client = Actor(user_id="", ip=self._ip, user_agent=self._agent)
        return await self._recorded(
            await self._services.signin.activate(
                tenant_id, email, code, password, client, two_factor
            )
        )

    async def _recorded(self, signed_in: tuple[Any, Principal]) -> Any:
        tokens, principal = signed_in
        await self._services.access.login(
            principal, principal.roles, tokens.access, self._ip, self._agent
        )
        return tokens

    async def refresh(self, refresh_token: str) -> Any:
        try:
            tenant_id = refresh_tenant(refresh_token)
        except UnauthenticatedError:
            await self._services.limits.check_refresh(self._ip, "-")
            raise
        limits = self._services.limits
        await limits.check_refresh(self._ip, tenant_id)
        try:
            await self._services.tenants.require_active(tenant_id)
            return await self._services.signin.refresh(refresh_token)
        except UnauthenticatedError:
            await limits.refresh_failed(tenant_id)
            raise
