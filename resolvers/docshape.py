"""The shape of a document, measured in one pass that is linear in its size, and refused
before anything else walks it.

Fragments form a DAG (a cycle is refused): each fragment is measured once and its measure
reused wherever it is spread, so ``fragment F0 { ...F1 ...F1 } fragment F1 { ...F2 ...F2 }``
costs one visit per fragment however many selections it expands to. The measures are those
of the document with every spread expanded:

- *selections*: fields, inline fragments and spreads, counted once per place they end up;
- *depth*: levels of fields below the root (``{ me { id } }`` is 1), introspection aside;
- *aliases*: aliased fields.

Within those limits, one more walk (bounded by the expanded size) counts *merges*: the
pairs of fields graphql-core's overlapping-fields rule compares, which grow with the square
of a field repeated under one name (``{ me { id } me { id } … }`` needs no alias).

:func:`validate_shape_first` runs the shape rule on its own before the other validation
rules, the authorisation walk, the cost estimate and execution, so a document over a limit
costs those passes and nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    SelectionSetNode,
    validate,
)
from graphql.validation import ValidationContext
from strawberry.extensions import AddValidationRules
from strawberry.schema.schema import validate_document

from resolvers.documents import fragments_of, operations_named
from schema.errors import BadUserInputError, FragmentCycleError

__all__ = ["DocumentShape", "ShapeLimiter", "ShapeRule", "measure", "validate_shape_first"]


@dataclass(frozen=True, slots=True)
class DocumentShape:
    selections: int = 0
    depth: int = 0
    aliases: int = 0

    def __add__(self, other: DocumentShape) -> DocumentShape:
        return DocumentShape(
            self.selections + other.selections,
            max(self.depth, other.depth),
            self.aliases + other.aliases,
        )


class _Measure:
    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.done: dict[str, DocumentShape] = {}
        self.open: set[str] = set()

    def selection_set(self, node: SelectionSetNode | None) -> DocumentShape:
        selections = depth = aliases = 0  # plain ints: this runs once per node
        for sel in node.selections if node is not None else ():
            if isinstance(sel, FieldNode):
                selections += 1
                aliases += sel.alias is not None
                if sel.selection_set is not None:
                    below = self.selection_set(sel.selection_set)
                    selections += below.selections
                    aliases += below.aliases
                    # Introspection is left out, as Strawberry's limiter did: its own depth
                    # rule (graphql-core's MaxIntrospectionDepthRule) bounds it.
                    if not sel.name.value.startswith("__"):
                        depth = max(depth, below.depth + 1)
                continue
            if isinstance(sel, FragmentSpreadNode):
                inner = self.fragment(sel.name.value)
            else:  # an inline fragment
                inner = self.selection_set(sel.selection_set)  # type: ignore[attr-defined]
            selections += inner.selections + 1
            depth = max(depth, inner.depth)
            aliases += inner.aliases
        return DocumentShape(selections, depth, aliases)

    def fragment(self, name: str) -> DocumentShape:
        known = self.done.get(name)
        if known is not None:
            return known
        definition = self.fragments.get(name)
        if definition is None:
            return DocumentShape()  # an unknown fragment: KnownFragmentNamesRule names it
        if name in self.open:
            raise FragmentCycleError
        self.open.add(name)
        shape = self.selection_set(definition.selection_set)
        self.open.discard(name)
        self.done[name] = shape
        return shape


Root = OperationDefinitionNode | FragmentDefinitionNode


def measure(document: DocumentNode) -> dict[Root, DocumentShape]:
    """The shape of each operation, and of each fragment no operation spreads (validation
    rules visit those too), with spreads expanded (``FragmentCycleError`` on a cycle).
    Time and memory are linear in the document: one visit per node."""
    fragments = fragments_of(document)
    m = _Measure(fragments)
    shapes: dict[Root, DocumentShape] = {
        d: m.selection_set(d.selection_set) for d in operations_named(document, None)
    }
    used = set(m.done)
    for name, definition in fragments.items():
        shape = m.fragment(name)
        if name not in used:
            shapes[definition] = shape
    return shapes


def merged_pairs(roots: Iterable[Root], fragments: Mapping[str, FragmentDefinitionNode]) -> int:
    """How many pairs of fields graphql-core's ``OverlappingFieldsCanBeMergedRule`` compares,
    about: fields under one response key are merged (as execution merges them, each
    fragment once per selection), and every two fields merged under one key, and every two
    spreads side by side in one selection set, are a pair. Only for documents within the
    selections limit: the walk is bounded by their expanded size."""
    total = 0
    pending: list[list[SelectionSetNode]] = [[r.selection_set] for r in roots]
    while pending:
        merged: dict[str, list[FieldNode]] = {}
        spread: set[str] = set()
        sets = pending.pop()
        while sets:
            side_by_side = 0  # spreads directly in this selection set: compared pairwise
            for sel in sets.pop().selections:
                if isinstance(sel, FieldNode):
                    merged.setdefault(sel.alias.value if sel.alias else sel.name.value, []).append(
                        sel
                    )
                elif isinstance(sel, FragmentSpreadNode):
                    side_by_side += 1
                    name = sel.name.value
                    if name not in spread and name in fragments:
                        spread.add(name)
                        sets.append(fragments[name].selection_set)
                else:
                    sets.append(sel.selection_set)  # type: ignore[attr-defined]
            total += side_by_side * (side_by_side - 1) // 2
        for nodes in merged.values():
            total += len(nodes) * (len(nodes) - 1) // 2
            below = [n.selection_set for n in nodes if n.selection_set is not None]
            if below:
                pending.append(below)
    return total


class ShapeRule(ASTValidationRule):
    """Base of the shape rule; :func:`validate_shape_first` runs these on their own."""

    @staticmethod
    def shape_errors(document: DocumentNode) -> list[GraphQLError]:
        return []

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        for error in self.shape_errors(context.document):
            context.report_error(error)


def _limit_error(error: BadUserInputError) -> GraphQLError:
    return GraphQLError(error.message, original_error=error)


def shape_rule(
    max_depth: int, max_aliases: int, max_selections: int, max_merges: int
) -> type[ShapeRule]:
    def errors_of(document: DocumentNode) -> list[GraphQLError]:
        try:
            shapes = measure(document)
        except FragmentCycleError as cycle:
            return [_limit_error(cycle)]
        total = DocumentShape()
        for shape in shapes.values():
            total = total + shape
        merges = 0
        if total.selections <= max_selections:
            fragments = fragments_of(document)
            merges = merged_pairs(shapes, fragments)
        errors = []
        for name, value, limit, message in (
            ("selections", total.selections, max_selections, _SELECTIONS),
            ("depth", total.depth, max_depth, "the query's depth {} is over the limit of {}"),
            ("aliases", total.aliases, max_aliases, _ALIASES),
            ("merges", merges, max_merges, _MERGES),
        ):
            if value > limit:
                shown = str(value) if value <= 10 * limit else f"more than {10 * limit}"
                over = BadUserInputError(message.format(shown, limit), limit=name, max=limit)
                errors.append(_limit_error(over))
        return errors

    class DocumentShapeRule(ShapeRule):
        shape_errors = staticmethod(errors_of)

    return DocumentShapeRule


_SELECTIONS = (
    "the query expands to {} selections once its fragments are spread, over the limit of {}"
)
_ALIASES = "the query has {} aliases, over the limit of {}"
_MERGES = (
    "the query repeats fields under one name or spreads fragments side by side {} times "
    "(counted in pairs), over the limit of {}"
)


class ShapeLimiter(AddValidationRules):
    """Depth, alias, expanded-size and merge limits, measured in one linear pass (this
    replaces Strawberry's ``QueryDepthLimiter`` and ``MaxAliasesLimiter``, which walk a
    fragment once per spread: exponential work for a chain of fragments that each spread
    the next twice). Validation runs shape first unless an extension before this one
    (resolvers.authz.document) validated already."""

    def __init__(
        self, max_depth: int, max_aliases: int, max_selections: int, max_merges: int
    ) -> None:
        super().__init__([shape_rule(max_depth, max_aliases, max_selections, max_merges)])

    def on_validate(self) -> Iterator[None]:
        ec = self.execution_context
        if ec.pre_execution_errors is None and ec.graphql_document is not None:
            ec.pre_execution_errors = validate_shape_first(
                ec.schema._schema, ec.graphql_document, ec.validation_rules, validate_document
            )
        yield


def validate_shape_first(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: Sequence[type[ASTValidationRule]],
    validate_rest: Callable[..., list[GraphQLError]] = validate,
) -> list[GraphQLError]:
    """Validate *document* by the shape rules alone first; only a document within them is
    validated by the other *rules* (with *validate_rest*, graphql-core's ``validate`` or
    Strawberry's ``validate_document``)."""
    shape = [r for r in rules if issubclass(r, ShapeRule)]
    # Called directly, not through validate(): no visit of the document beyond the measure.
    errors = [e for rule in shape for e in rule.shape_errors(document)]
    if errors:
        return errors
    return list(validate_rest(schema, document, tuple(r for r in rules if r not in shape)))
