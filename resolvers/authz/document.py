"""Document authorisation: every selected field checked against the caller's policy, once,
before any resolver runs.

The cost is one walk of the document: it grows with the size of the query, never with the
number of records returned. The outcome is cached per (document, operation name, tenant,
role set, policy version): the same document sent by another role, or after a role
change, is authorised again. Standard GraphQL validation does not depend on the caller and
is cached per document alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    get_named_type,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from resolvers.authz.policy import Policy, type_sheet
from resolvers.docshape import validate_shape_first
from resolvers.documents import fragments_of, operations_named
from resolvers.limits import estimate_cost
from schema.datasheets import DATASHEETS
from schema.errors import ForbiddenError, QueryTooCostlyError
from storage.tracing import span

if TYPE_CHECKING:
    from resolvers.authz.cache import AuthorizationCache

__all__ = ["Authorization", "AuthorizationExtension", "authorize"]

_PAGE_FIELDS = frozenset(s.name for s in DATASHEETS.values())


@dataclass(frozen=True, slots=True)
class Authorization:
    errors: tuple[GraphQLError, ...] = ()
    #: Masked fields the document selects, per GraphQL type: for the response extensions.
    masked: dict[str, list[str]] = field(default_factory=dict)


def _forbidden(type_name: str, field_name: str, path: list[str], node: FieldNode) -> GraphQLError:
    what = f"{type_name}.{field_name}"
    error = ForbiddenError(f"you may not use {what}", field=what, path=".".join(path))
    return GraphQLError(error.message, nodes=[node], path=path, original_error=error)


class _Walker:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode, policy: Policy) -> None:
        self.schema = schema
        self.policy = policy
        self.fragments = fragments_of(document)
        self.errors: list[GraphQLError] = []
        self.masked: dict[str, set[str]] = {}
        #: Fragments already walked: a fragment's checks depend on it alone (its type
        #: condition fixes the parent type), so a second spread adds nothing; walking it
        #: again would make the walk exponential in a chain of fragments spread twice.
        self.walked: set[str] = set()

    def walk(self, selections: SelectionSetNode, parent: GraphQLNamedType, path: list[str]) -> None:
        for sel in selections.selections:
            if isinstance(sel, FieldNode):
                self._field(sel, parent, path)
            elif isinstance(sel, InlineFragmentNode):
                cond = sel.type_condition
                target = self.schema.get_type(cond.name.value) if cond else parent
                if target is not None:
                    self.walk(sel.selection_set, target, path)
            elif isinstance(sel, FragmentSpreadNode):
                fragment = self.fragments.get(sel.name.value)
                if fragment is None or sel.name.value in self.walked:
                    continue
                self.walked.add(sel.name.value)
                spread = self.schema.get_type(fragment.type_condition.name.value)
                if spread is not None:
                    self.walk(fragment.selection_set, spread, path)

    def _field(self, node: FieldNode, parent: GraphQLNamedType, path: list[str]) -> None:
        name = node.name.value
        if name.startswith("__"):
            return  # __typename, and introspection, which is filtered per policy
        here = [*path, node.alias.value if node.alias else name]
        if not self.policy.allows(parent.name, name):
            self.errors.append(_forbidden(parent.name, name, here, node))
            return
        sheet = type_sheet(parent.name)
        if sheet is not None:
            grant = self.policy.sheet(sheet.name)
            if grant is not None and name in grant.mask:
                self.masked.setdefault(parent.name, set()).add(name)
        if node.selection_set is None or not isinstance(parent, GraphQLObjectType):
            return
        definition = parent.fields.get(name)
        if definition is not None:
            self.walk(node.selection_set, get_named_type(definition.type), here)


def authorize(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None, policy: Policy
) -> Authorization:
    walker = _Walker(schema, document, policy)
    for op in operations_named(document, operation_name):
        root = schema.get_root_type(op.operation)
        if root is not None:
            walker.walk(op.selection_set, root, [])
    return Authorization(
        tuple(walker.errors), {t: sorted(f) for t, f in sorted(walker.masked.items())}
    )


class AuthorizationExtension(SchemaExtension):
    """Runs validation (cached) and authorisation (cached per policy) in the validation
    step, so a refused document never reaches execution."""

    def on_validate(self) -> Iterator[None]:
        # Ended before the yield: execution is not part of the check.
        with span("authorize") as current:
            refused = self._check()
            if current is not None:
                current.set_attribute("enclave.refused", refused)  # a count of errors
        yield

    def _check(self) -> int:
        """Validate and authorise; the number of errors that stop execution."""
        ec = self.execution_context
        context = ec.context
        cache: AuthorizationCache = context.authorization_cache
        policy: Policy = context.policy
        document = ec.graphql_document
        assert document is not None
        digest = hashlib.sha256((ec.query or "").encode()).hexdigest()
        errors = cache.validated.get(digest)
        if errors is None:
            errors = tuple(
                validate_shape_first(
                    ec.schema._schema, document, ec.validation_rules, validate_document
                )
            )
            cache.validated[digest] = errors
        if errors:
            ec.pre_execution_errors = list(errors)
            return len(errors)
        key = (digest, ec.operation_name, context.principal.tenant_id, *policy.key)
        result = cache.authorized.get(key)
        if result is None:
            result = authorize(ec.schema._schema, document, ec.operation_name, policy)
            cache.authorized[key] = result
        errors_now = list(result.errors)
        if not errors_now:
            # Depends on variables (page sizes), so computed per request: one document walk.
            cost = estimate_cost(
                document,
                ec.operation_name,
                ec.variables or {},
                default_page=context.default_page_size,
                page_fields=_PAGE_FIELDS,
            )
            if cost > context.max_cost:
                error = QueryTooCostlyError(cost, context.max_cost)
                errors_now = [GraphQLError(error.message, original_error=error)]
        ec.pre_execution_errors = errors_now
        self._masked = result.masked
        return len(errors_now)

    def get_results(self) -> dict[str, Any]:
        # The fields actually given masked, record by record (resolvers.records).
        masked = getattr(self.execution_context.context, "masked", None) or {}
        return {"masked": {t: sorted(f) for t, f in sorted(masked.items())}} if masked else {}
