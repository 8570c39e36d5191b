"""What a GraphQL document must be to be stored (persisted operations): code, never data.

A stored document is kept as text in the tenant's database, its SHA-256 is its id, and its
registration is an audit entry whose record id is that hash; none of these can be
encrypted away or redacted (the hash is the lookup key, the audit entry is authenticated
as written), and a hash of a document holding an email is a pseudonym of that email anyone
can confirm by guessing. So instead of storing values encrypted, documents holding values
are refused: string and number literals (in arguments, input objects, lists, variable
defaults and directives) must be passed as variables. The one exception is an integer page
size (``first: 10``), which says nothing about anyone. Comments are refused too (a ``#``
outside a string literal can only start one): they are kept in the text.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    FloatValueNode,
    IntValueNode,
    Node,
    StringValueNode,
    Visitor,
    get_location,
    visit,
)
from graphql.language import SKIP

from schema.errors import BadUserInputError

__all__ = ["check_storable"]

#: Arguments whose integer literal may stay in a stored document (page sizes).
_PAGE_SIZES = frozenset({"first"})


class _Literals(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: Node | None = None

    def enter_argument(self, node: ArgumentNode, *_: Any) -> Any:
        if node.name.value in _PAGE_SIZES and isinstance(node.value, IntValueNode):
            return SKIP
        return None

    def _value(self, node: Node, *_: Any) -> Any:
        if self.found is None:
            self.found = node
        return SKIP

    enter_string_value = _value
    enter_int_value = _value
    enter_float_value = _value


def check_storable(text: str, document: DocumentNode, field: str) -> None:
    """``BAD_USER_INPUT`` (naming *field* and where, never the value) unless *document*,
    parsed from *text*, holds no values and no comments."""
    finder = _Literals()
    visit(document, finder)
    node = finder.found
    if node is not None and node.loc is not None:
        where = get_location(node.loc.source, node.loc.start)
        kind = {StringValueNode: "a string", IntValueNode: "a number", FloatValueNode: "a number"}
        raise BadUserInputError(
            f"a stored document may not hold values: {kind.get(type(node), 'a value')} at "
            f"line {where.line}, column {where.column}; pass it as a variable ($name) instead "
            "(only page sizes such as first: 10 may be written in the document)",
            field=field,
        )
    if "#" in text:
        raise BadUserInputError("a stored document may not hold comments: remove them", field=field)
