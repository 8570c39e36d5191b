"""The Strawberry schema: query and mutation roots over every datasheet."""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql.error import GraphQLError
from strawberry.extensions import DisableIntrospection, MaxTokensLimiter
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from resolvers.account import AccountMutation, MeQuery
from resolvers.admin import AdminMutation, AdminQuery
from resolvers.attempts import AuditAttempts
from resolvers.auditlog import AuditQueryRoot
from resolvers.auditverify import AuditVerifyQuery
from resolvers.authz.document import AuthorizationExtension
from resolvers.authz.introspection import install_introspection_filter
from resolvers.breach.fields import BreachMutation, BreachQuery
from resolvers.breach.incidents import IncidentMutation, IncidentQuery
from resolvers.docshape import ShapeLimiter
from resolvers.errors import ErrorCodes
from resolvers.exports import ExportMutation
from resolvers.lifecycle import LifecycleMutation
from resolvers.limits import Limits
from resolvers.operations import OperationsMutation
from resolvers.receipts import AuditReceipts
from resolvers.records import mutation_fields, query_fields
from resolvers.reports.fields import ReportMutation, ReportQuery
from resolvers.subject import SubjectAccessMutation
from resolvers.telemetry import OperationTelemetry
from schema.types import sheet_types

__all__ = ["EnclaveSchema", "build_schema"]

log = logging.getLogger("enclave.graphql")


class EnclaveSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Strawberry logs each error with its message and traceback; ours are logged, without
        # values, by ErrorCodes. Client errors need no log line of their own.
        return None


def _root(name: str, fields: dict[str, Any], bases: tuple[type, ...]) -> type[Any]:
    cls = type(name, bases, dict(fields))
    return strawberry.type(cls, name=name)


def build_schema(limits: Limits | None = None) -> EnclaveSchema:
    limits = limits or Limits()
    install_introspection_filter()
    query: dict[str, Any] = {}
    mutation: dict[str, Any] = {}
    for types in sheet_types().values():
        query.update(query_fields(types))
        mutation.update(mutation_fields(types))
    return EnclaveSchema(
        query=_root(
            "Query",
            query,
            (
                MeQuery,
                AuditQueryRoot,
                AuditVerifyQuery,
                AdminQuery,
                ReportQuery,
                BreachQuery,
                IncidentQuery,
            ),
        ),
        mutation=_root(
            "Mutation",
            mutation,
            (
                AccountMutation,
                AdminMutation,
                LifecycleMutation,
                ExportMutation,
                SubjectAccessMutation,
                OperationsMutation,
                ReportMutation,
                BreachMutation,
                IncidentMutation,
            ),
        ),
        config=StrawberryConfig(disable_field_suggestions=True),
        extensions=[
            OperationTelemetry,
            ErrorCodes,
            AuditAttempts,
            AuditReceipts,
            AuthorizationExtension,
            lambda: ShapeLimiter(
                limits.max_depth, limits.max_aliases, limits.max_selections, limits.max_merges
            ),
            lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
            *([] if limits.introspection else [DisableIntrospection]),
        ],
    )
