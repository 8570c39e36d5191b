"""Running compiled read operations: the same checks, read plan, row scopes, masks and
access events as the resolvers (resolvers.reading), with the answer built from tables.

``CompiledReads.run`` answers a request with the response body, or None to leave it to the
standard executor: a document it does not support, one that does not parse, validate or
pass authorisation, the limits or variable coercion (the standard executor then reports
exactly those errors), and at run time any error or forbidden null (the request is then
run again by the standard executor; access events of the first attempt are dropped, so
none is recorded twice).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import (
    ASTValidationRule,
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    parse,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values

from resolvers.authz.cache import AuthorizationCache
from resolvers.authz.document import authorize
from resolvers.compiled.emit import connection, project
from resolvers.compiled.errors import FallbackError, UnsupportedDocumentError
from resolvers.compiled.plan import RootField, compile_roots
from resolvers.context import RequestContext
from resolvers.docshape import validate_shape_first
from resolvers.documents import fragments_of, operation_of
from resolvers.limits import estimate_cost
from resolvers.reading import read_one, read_page, shown_values
from resolvers.telemetry import CURRENT, label_of
from schema.datasheets import DATASHEETS
from schema.errors import EnclaveError
from storage.tracing import span

__all__ = ["CompiledOperation", "CompiledReads"]

log = logging.getLogger("enclave.compiled")

_PAGE_FIELDS = frozenset(s.name for s in DATASHEETS.values())


@dataclass
class CompiledOperation:
    """A parsed, validated query document over datasheets, and its operation."""

    document: DocumentNode
    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    #: The roots per value of the variables that @skip/@include read (few; bounded).
    roots: dict[tuple[Any, ...], tuple[RootField, ...]] = field(default_factory=dict)
    directive_variables: tuple[str, ...] = ()

    def roots_for(
        self, schema: GraphQLSchema, variables: Mapping[str, Any]
    ) -> tuple[RootField, ...]:
        key = tuple(variables.get(name) for name in self.directive_variables)
        roots = self.roots.get(key)
        if roots is None:
            roots = compile_roots(schema, self.operation, self.fragments, variables)
            if len(self.roots) < 16:
                self.roots[key] = roots
        return roots


class _Buffered:
    """Access events held until the answer is certain."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Sequence[str], Sequence[str]]] = []

    def read(self, datasheet: str, fields: Sequence[str], records: Sequence[str]) -> None:
        self.events.append((datasheet, fields, records))

    def export(self, datasheet: str, fields: Sequence[str], records: Sequence[str]) -> None:
        raise UnsupportedDocumentError("an export is not a compiled read")

    def report(self, datasheet: str, fields: Sequence[str], aggregated: int) -> None:
        raise UnsupportedDocumentError("a report is not a compiled read")

    def refused(self, code: str) -> None:
        raise UnsupportedDocumentError("a refusal is answered by the standard executor")


def _directive_variables(document: DocumentNode) -> tuple[str, ...]:
    names: set[str] = set()

    def visit(node: Any) -> None:
        for directive in getattr(node, "directives", None) or ():
            for arg in directive.arguments or ():
                if arg.value.kind == "variable":
                    names.add(arg.value.name.value)
        selection_set = getattr(node, "selection_set", None)
        for sel in selection_set.selections if selection_set else ():
            visit(sel)

    for definition in document.definitions:
        visit(definition)
    return tuple(sorted(names))


class CompiledReads:
    """Compiles and runs read operations; see the module docstring."""

    def __init__(
        self,
        schema: GraphQLSchema,
        rules: Sequence[type[ASTValidationRule]],
        cache: AuthorizationCache,
        *,
        max_tokens: int,
    ) -> None:
        self.schema = schema
        self.rules = tuple(rules)
        self.cache = cache
        self.max_tokens = max_tokens

    def prepare(
        self, digest: str, query: str, operation_name: str | None
    ) -> CompiledOperation | None:
        key = (digest, operation_name)
        cached = self.cache.operations.get(key)
        if cached is None:
            cached = self._compile(digest, query, operation_name) or False
            self.cache.operations[key] = cached
        return cached if isinstance(cached, CompiledOperation) else None

    def _compile(
        self, digest: str, query: str, operation_name: str | None
    ) -> CompiledOperation | None:
        try:
            document = parse(query, max_tokens=self.max_tokens)
        except GraphQLError:
            return None
        errors = self.cache.validated.get(digest)
        if errors is None:
            try:
                errors = tuple(validate_shape_first(self.schema, document, self.rules))
            except Exception:  # a rule's own bug: the standard executor answers
                return None
            self.cache.validated[digest] = errors
        if errors:
            return None
        operation = operation_of(document, operation_name)
        if operation is None:
            return None
        fragments = fragments_of(document)
        try:
            compile_roots(self.schema, operation, fragments, None)
        except UnsupportedDocumentError:
            return None
        return CompiledOperation(
            document, operation, fragments, directive_variables=_directive_variables(document)
        )

    async def run(
        self,
        ctx: RequestContext,
        query: str,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
    ) -> bytes | None:
        digest = hashlib.sha256(query.encode()).hexdigest()
        compiled = self.prepare(digest, query, operation_name)
        if compiled is None:
            return None
        policy = ctx.policy
        key = (digest, operation_name, ctx.principal.tenant_id, *policy.key)
        with span("authorize") as current:
            authorization = self.cache.authorized.get(key)
            if authorization is None:
                authorization = authorize(self.schema, compiled.document, operation_name, policy)
                self.cache.authorized[key] = authorization
            if current is not None:
                current.set_attribute("enclave.refused", len(authorization.errors))  # a count
        if authorization.errors:
            return None
        inputs = dict(variables or {})
        cost = estimate_cost(
            compiled.document,
            operation_name,
            inputs,
            default_page=ctx.default_page_size,
            page_fields=_PAGE_FIELDS,
        )
        if cost > ctx.max_cost:
            return None
        coerced: VariableValues | None = None
        if compiled.operation.variable_definitions:
            result = get_variable_values(
                self.schema, compiled.operation.variable_definitions, inputs
            )
            if not isinstance(result, VariableValues):
                return None
            coerced = result
        buffered = _Buffered()
        run_ctx = dataclasses.replace(ctx, access=buffered, masked={})
        try:
            roots = compiled.roots_for(self.schema, coerced.coerced if coerced else {})
            data = {root.key: await self._root(run_ctx, root, coerced) for root in roots}
        except (
            FallbackError,
            UnsupportedDocumentError,
            EnclaveError,
            GraphQLError,
            TypeError,
            ValueError,
        ) as exc:
            log.debug("compiled read left to the standard executor: %s", type(exc).__name__)
            return None
        for event in buffered.events:
            ctx.access.read(*event)
        if (info := CURRENT.get()) is not None:  # the metrics' label, as Strawberry's gets
            info.label = label_of(compiled.operation, self.schema)
        body: dict[str, Any] = {"data": data}
        if run_ctx.masked:
            for type_name, names in run_ctx.masked.items():
                ctx.masked.setdefault(type_name, set()).update(names)
            body["extensions"] = {
                "masked": {t: sorted(f) for t, f in sorted(run_ctx.masked.items())}
            }
        return orjson.dumps(body)

    async def _root(
        self, ctx: RequestContext, root: RootField, variables: VariableValues | None
    ) -> object:
        if root.kind == "typename":
            return root.shape
        assert root.sheet is not None and root.node is not None and root.definition is not None
        sheet, names = root.sheet, root.names
        args = get_argument_values(root.definition, root.node, variables)

        def select(candidates: list[str]) -> list[str]:
            return [c for c in candidates if c in names]

        if root.kind == "one":
            record, plan = await read_one(ctx, sheet, select, str(args["id"]))
            return project(root.shape, record, shown_values(ctx, sheet, record, plan))
        given = args.get("filter") or {}
        page, plan = await read_page(
            ctx,
            sheet,
            select,
            first=args.get("first"),
            after=args.get("after"),
            filters={k: v for k, v in given.items() if v is not None},
            include_archived=bool(args.get("includeArchived")),
        )
        values = [shown_values(ctx, sheet, r, plan) for r in page.records]
        return connection(root.shape, page, values)
