"""The composition root: ``create_app(settings)`` builds the services, the routes and the
middleware around them, and a lifespan that starts and closes the services.

Routes: ``/graphql``, ``/healthz``, ``/readyz``, ``/metrics``, export downloads
(``/exports/<tenant>/<job>``) and the console (``/console``). Every response, errors and
Starlette's own 404/405/500 included, carries the security headers
(:mod:`gateway.middleware.securityheaders`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from opentelemetry.sdk.trace.export import SpanExporter
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount, Route

from gateway.auth.authenticator import Authenticator
from gateway.endpoints.compiled import CompiledPath
from gateway.endpoints.console import ConsoleApp
from gateway.endpoints.exports import ExportEndpoint
from gateway.endpoints.graphql import EnclaveGraphQL, GraphQLEndpoint, limits_of
from gateway.endpoints.health import healthz, readyz
from gateway.endpoints.metrics import metrics_endpoint
from gateway.endpoints.public import PublicEndpoint
from gateway.middleware.authentication import Authentication
from gateway.middleware.bodylimit import BodyLimit
from gateway.middleware.graphiql import GraphiQL
from gateway.middleware.graphqlrequest import GraphQLRequestCheck
from gateway.middleware.idempotency import Idempotency
from gateway.middleware.persisted import PersistedQueries
from gateway.middleware.policy import CallerPolicy
from gateway.middleware.ratelimit import RateLimit
from gateway.middleware.requestid import RequestId
from gateway.middleware.securityheaders import SecuredStarlette
from gateway.middleware.telemetry import RequestTelemetry
from gateway.services import Services
from gateway.settings import Settings
from resolvers.public import build_public_schema
from resolvers.schema import build_schema

__all__ = ["create_app"]


def graphql_route(services: Services) -> Route:
    """``/graphql``: its middleware, outermost first, is the order in which a request is
    checked; each step refuses with a GraphQL error (``extensions.code``) or passes it on."""
    settings = services.settings
    limits = limits_of(settings)
    schema = build_schema(limits)
    graphql = EnclaveGraphQL(schema, services)
    compiled = (
        CompiledPath(schema, graphql.context_of, services.authorization, settings.max_tokens)
        if settings.compiled_reads
        else None
    )
    authenticator = Authenticator(
        api_keys=services.api_keys,
        tokens=services.tokens,
        external=services.external,
        signin=services.signin,
        tenants=services.tenants,
        prefetch=services.prefetch,
    )
    anonymous = GraphQLRequestCheck(PublicEndpoint(build_public_schema(limits), services))
    graphiql = [Middleware(GraphiQL)] if settings.graphiql else []
    return Route(
        "/graphql",
        GraphQLEndpoint(graphql, compiled),
        methods=["GET", "POST"],
        middleware=[
            # X-Request-Id, and the id of log lines and audit entries.
            Middleware(RequestId),
            # Metrics, the log line, the request's span.
            Middleware(RequestTelemetry, metrics=services.metrics, tracing=services.tracing),
            *graphiql,  # to the IDE page, in the console
            # 413 before anything is parsed or authenticated.
            Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
            # 401, or the Principal into the scope; without credentials, sign-in only.
            Middleware(Authentication, authenticator=authenticator, anonymous=anonymous),
            # 429 per principal and per tenant, before any work is done for the caller.
            Middleware(RateLimit, limiter=services.limits),
            # The caller's policy into the scope; a token's first use in the login history.
            Middleware(CallerPolicy, policies=services.policies, access=services.access),
            # A hash for its registered document; the tenant's allow-list.
            Middleware(PersistedQueries, operations=services.operations, schema=schema._schema),
            # A GraphQL request: one JSON object, in a POST.
            Middleware(GraphQLRequestCheck),
            # A mutation with an Idempotency-Key runs once; a retry gets the first answer.
            Middleware(
                Idempotency,
                keys=services.idempotency,
                store=services.store,
                max_tokens=settings.max_tokens,
            ),
        ],
    )


def create_app(
    settings: Settings | None = None,
    *,
    background: bool = True,
    trace_exporter: SpanExporter | None = None,
) -> Starlette:
    """The gateway. *settings* default to the environment's; *trace_exporter* replaces the
    OTLP exporter when tracing is on (tests)."""
    resolved = settings or Settings()
    services = Services.from_settings(resolved, trace_exporter=trace_exporter)

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
            graphql_route(services),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/exports/{tenant}/{job}", ExportEndpoint(services), methods=["GET"]),
            Route("/metrics", metrics_endpoint),
            Mount("/console", ConsoleApp()),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    return app
