"""The ASGI application: ``/graphql``, ``/healthz``, ``/readyz``, ``/metrics`` and export
downloads.

``create_app(settings)`` is the composition root: it builds the services in the lifespan
and closes them on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import jwt
import orjson
from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType, parse
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send
from strawberry.asgi import GraphQL

from gateway.accesslog import RequestAccess
from gateway.apikeys import is_api_key
from gateway.auth import bearer_token
from gateway.compiled import CompiledPath
from gateway.exports import ExportEndpoint
from gateway.exporturls import ExportLinksForRequest
from gateway.idempotency import did_not_happen
from gateway.jwks import ALGORITHMS as EXTERNAL_ALGORITHMS
from gateway.persisted import actor_for
from gateway.refusals import error_response, serve_graphql
from gateway.securityheaders import SecuredStarlette
from gateway.services import Services
from gateway.settings import Settings
from gateway.signin import REFUSED, SETUP_CODE_REFUSED, refresh_tenant, validate_password
from gateway.telemetry import RequestTelemetry, metrics_endpoint
from regions import nativecrypto
from resolvers.context import Principal, RequestContext
from resolvers.limits import Limits
from resolvers.policy import Policy
from resolvers.public import PUBLIC_FIELDS, PublicContext, build_public_schema
from resolvers.schema import build_schema
from schema.errors import (
    BadUserInputError,
    EnclaveError,
    MethodNotAllowedError,
    PayloadTooLargeError,
    RateLimitedError,
    UnauthenticatedError,
    UnsupportedRequestError,
)
from storage.base import Actor

__all__ = ["create_app"]


def _is_mutation(body: bytes, max_tokens: int) -> bool:
    """Whether the operation a (checked) request body runs is a mutation."""
    request = orjson.loads(body)
    try:
        document = parse(request["query"], max_tokens=max_tokens)
    except GraphQLError:
        return False
    name = request.get("operationName")
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            name is None or (definition.name is not None and definition.name.value == name)
        ):
            return definition.operation is OperationType.MUTATION
    return False


def _replaying(body: bytes, receive: Receive) -> Receive:
    """*receive* giving the already-read *body* first (we read it to check it)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _adding_headers(send: Send, headers: list[tuple[bytes, bytes]]) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *headers]
        await send(message)

    return send_with_headers


def limits_of(settings: Settings) -> Limits:
    return Limits(
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
        max_cost=settings.max_cost,
        max_selections=settings.max_selections,
        max_merges=settings.max_merges,
        introspection=settings.introspection,
    )


class EnclaveGraphQL(GraphQL[RequestContext, None]):
    """Strawberry's ASGI app, given the principal the endpoint authenticated."""

    def __init__(self, services: Services) -> None:
        settings = services.settings
        limits = limits_of(settings)
        schema = build_schema(limits)
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql else None,
            allow_queries_via_get=False,
        )
        self.services = services
        self.core_schema = schema._schema  # what persisted documents are authorised against

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)  # as the compiled read path does

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await serve_graphql(self, scope, receive, send)

    async def get_context(self, request: Any, response: Any) -> RequestContext:
        principal: Principal = request.scope["enclave.principal"]
        policy: Policy = request.scope["enclave.policy"]
        settings = self.services.settings
        client = request.client.host if request.client else None
        return RequestContext(
            principal=principal,
            store=self.services.store.for_tenant(principal.tenant_id),
            actor=Actor(
                user_id=principal.user_id,
                roles=policy.roles,
                kind=principal.kind,
                ip=client,
                user_agent=request.headers.get("user-agent"),
                request_id=request.scope["enclave.request_id"],
            ),
            policy=policy,
            authorization_cache=self.services.authorization,
            policies=self.services.policies,
            account=self.services.signin,
            operations=self.services.operations,
            seal_key=settings.seal_key,
            known_heads=self.services.heads.known,
            access=RequestAccess(
                self.services.access,
                principal,
                policy.roles,
                (request.headers.get("x-purpose") or "")[:200] or None,
                request.scope["enclave.request_id"],
            ),
            default_page_size=settings.default_page_size,
            max_page_size=settings.max_page_size,
            max_cost=settings.max_cost,
            max_tokens=settings.max_tokens,
            exports=ExportLinksForRequest(self.services.export_urls, str(request.base_url)),
        )


class GraphQLEndpoint:
    """Authenticates, bounds the body, then hands over to Strawberry."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.graphql = EnclaveGraphQL(services)
        self.public = PublicEndpoint(services)
        settings = services.settings
        self.compiled = (
            CompiledPath(self.graphql, services.authorization, settings.max_tokens)
            if settings.compiled_reads
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        settings = self.services.settings
        if (
            settings.graphiql
            and request.method == "GET"
            and "text/html" in request.headers.get("accept", "")
        ):
            # The GraphiQL page holds no data and needs no token; queries from it do.
            await (await self.graphql.render_graphql_ide(request))(scope, receive, send)
            return
        # Ours, always: a caller's own id would be free text stored in audit entries.
        request_id = scope.get("enclave.request_id") or uuid.uuid4().hex
        if not (request.headers.get("authorization") or request.headers.get("x-api-key")):
            await self.public.serve(request, scope, receive, send)
            return
        try:
            body = await read_body(request, self.services.settings.max_body_bytes)
            principal = await self.authenticate(request)
            await self.services.limits.check(principal)
            policy = await self.services.policies.policy_for(principal)
            await self.services.access.login(
                principal,
                policy.roles,
                request.headers.get("x-api-key")
                or bearer_token(request.headers.get("authorization")),
                request.client.host if request.client else None,
                request.headers.get("user-agent"),
            )
            actor = actor_for(request, principal, policy.roles, request_id)
            body = await self.services.operations.resolve(
                principal, actor, body, policy=policy, schema=self.graphql.core_schema
            )
            _check_json(request, body)
        except EnclaveError as exc:
            await error_response(exc)(scope, receive, send)
            return
        scope["enclave.principal"] = principal
        scope["enclave.policy"] = policy
        scope["enclave.request_id"] = request_id
        replay = _replaying(body, receive)
        send_with_headers = _adding_headers(send, [(b"x-request-id", request_id.encode())])

        key = request.headers.get("idempotency-key")
        if key is None or not _is_mutation(body, settings.max_tokens):
            # Only mutations are made idempotent: a read is repeated, never replayed.
            if self.compiled is None or not await self.compiled.serve(
                scope, body, send_with_headers
            ):
                await self.graphql(scope, replay, send_with_headers)
        else:
            fingerprint = hashlib.sha256(repr(policy.key).encode()).hexdigest()
            await self._idempotent(
                key, principal, body, fingerprint, scope, replay, send_with_headers
            )

    async def _idempotent(
        self,
        key: str,
        principal: Principal,
        body: bytes,
        fingerprint: str,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """Run the request once per Idempotency-Key; a retry gets the first answer."""
        keys = self.services.idempotency
        store = self.services.store.for_tenant(principal.tenant_id)
        try:
            stored = await keys.claim(principal, key, body, fingerprint)
            if stored is not None:
                answer = await store.decrypt_document(stored.ciphertext)
                replayed = Response(
                    answer["body"].encode(),
                    status_code=stored.status,
                    media_type="application/json",
                    headers={"idempotent-replayed": "true"},
                )
                await replayed(scope, receive, send)
                return
        except EnclaveError as exc:
            await error_response(exc)(scope, receive, send)
            return
        status, chunks = 500, list[bytes]()

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.graphql(scope, receive, capture)
            result = b"".join(chunks)
            if status != 200 or did_not_happen(result):
                await keys.release(principal, key)
                return
            sealed = await store.encrypt_document({"body": result.decode()})
            await keys.complete(principal, key, body, status, sealed, fingerprint)
        except BaseException:
            await keys.release(principal, key)
            raise

    async def authenticate(self, request: Request) -> Principal:
        key = request.headers.get("x-api-key")
        token = key.strip() if key else bearer_token(request.headers.get("authorization"))
        if is_api_key(token):
            principal = await self.services.api_keys.authenticate(token)
            await self.services.tenants.require_active(principal.tenant_id)
            return principal
        external = self.services.external
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            raise UnauthenticatedError("invalid or expired token") from None
        if external is not None and algorithm in EXTERNAL_ALGORITHMS:
            principal = await external.verify(token)
        else:
            principal = self.services.tokens.verify(token)
            if not await self.services.signin.session_active(principal):
                raise UnauthenticatedError("invalid or expired token")
        await self.services.tenants.require_active(principal.tenant_id)
        return principal


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _check_json(request: Request, body: bytes) -> None:
    """A request Strawberry would answer with a plain-text 400 gets a GraphQL-shaped error
    with a code instead: GraphQL goes as a JSON object in a POST."""
    if request.method != "POST":
        raise MethodNotAllowedError("send GraphQL operations as JSON in a POST request")
    if "application/json" not in request.headers.get("content-type", ""):
        raise UnsupportedRequestError("the request body must be application/json")
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadUserInputError("the request body is not valid JSON") from None
    if isinstance(parsed, list):
        raise BadUserInputError("batched requests are not supported: send one operation")
    if not isinstance(parsed, dict):
        raise BadUserInputError("the request body must be a JSON object")
    for key, kinds, what in (
        ("query", (str,), "a string"),
        ("operationName", (str, type(None)), "a string or null"),
        ("variables", (dict, type(None)), "an object or null"),
        ("extensions", (dict, type(None)), "an object or null"),
    ):
        if key in parsed and not isinstance(parsed[key], kinds):
            raise BadUserInputError(f"{key} must be {what}", field=key)
    if not isinstance(parsed.get("query"), str):
        raise BadUserInputError("the request has no query", field="query")
    name = parsed.get("operationName")
    if isinstance(name, str) and len(name) > 200:
        raise BadUserInputError("operationName is too long", field="operationName")


class PublicEndpoint:
    """Requests without credentials: only sign-in operations, on a schema of their own;
    anything else is 401."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.graphql = PublicGraphQL(services)

    async def serve(self, request: Request, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await read_body(request, self.services.settings.max_body_bytes)
            _check_json(request, body)
            query = orjson.loads(body)["query"]
            max_tokens = self.services.settings.max_tokens
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
        except EnclaveError as exc:
            await error_response(exc)(scope, receive, send)
            return
        await self.graphql(scope, _replaying(body, receive), send)


def public_root_fields(query: str, max_tokens: int) -> list[str] | None:
    """The root field names of every operation in *query*, once per field, aliases
    included (None if it has fragments at the root, which sign-in never needs). Parsing
    stops past *max_tokens*: an anonymous body is parsed no further than an authenticated one."""
    names: list[str] = []
    for definition in parse(query, max_tokens=max_tokens).definitions:
        if isinstance(definition, OperationDefinitionNode):
            for sel in definition.selection_set.selections:
                if not isinstance(sel, FieldNode):
                    return None
                names.append(sel.name.value)
    return names


class PublicGraphQL(GraphQL[PublicContext, None]):
    def __init__(self, services: Services) -> None:
        super().__init__(
            build_public_schema(limits_of(services.settings)),
            graphql_ide=None,
            allow_queries_via_get=False,
        )
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await serve_graphql(self, scope, receive, send)

    async def get_context(self, request: Any, response: Any) -> PublicContext:
        client = request.client.host if request.client else None
        agent = request.headers.get("user-agent")
        return PublicContext(_RecordedSignIn(self.services, client, agent), client, agent)

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
        return await self._recorded(
            await self._services.signin.login(tenant_id, email, password, code)
        )

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


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    services: Services = request.app.state.services
    checks: dict[str, str] = {}

    async def check(name: str, probe: Any) -> None:
        try:
            await asyncio.wait_for(probe, timeout=3.0)
            checks[name] = "ok"
        except (EnclaveError, OSError, TimeoutError, Exception):
            checks[name] = "unavailable"

    await asyncio.gather(
        *(check(f"region:{r}", services.store.ping(r)) for r in services.store.regions),
        check("redis", services.redis.ping()),
    )
    ok = all(v == "ok" for v in checks.values())
    body = {"status": "ok" if ok else "degraded", "checks": checks}
    body["crypto"] = nativecrypto.status().implementation  # informational: stock is correct too
    return JSONResponse(body, status_code=200 if ok else 503)


def create_app(settings: Settings | None = None, *, background: bool = True) -> Starlette:
    """The gateway. *settings* default to the environment's."""
    resolved = settings or Settings()
    services = Services.from_settings(resolved)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if background:
            services.start_background()
        try:
            yield
        finally:
            await services.aclose()

    middleware = []
    if resolved.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=resolved.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=[
                    "authorization",
                    "content-type",
                    "x-request-id",
                    "x-purpose",
                    "idempotency-key",
                ],
                max_age=600,
            )
        )
    # Security headers wrap everything, Starlette's own 404, 405 and 500 answers included.
    app = SecuredStarlette(
        middleware=middleware,
        routes=[
            Route(
                "/graphql",
                RequestTelemetry(GraphQLEndpoint(services), services.metrics),
                methods=["GET", "POST"],
            ),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route(
                "/exports/{tenant}/{job}",
                ExportEndpoint(services, error_response),
                methods=["GET"],
            ),
            Route("/metrics", metrics_endpoint),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    return app
