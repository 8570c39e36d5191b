"""Masked values: a stable, partial form of a text field, for roles that may see only part.

The same value always masks to the same string, so a frontend can compare and display it,
and the shape of the response does not change with the role.
"""

from __future__ import annotations

from schema.datasheets import Field, FieldType

__all__ = ["mask"]

_DOTS = "•••"


def mask(field: Field, value: object) -> object:
    if not isinstance(value, str) or not value:
        return value
    if field.type is FieldType.EMAIL and "@" in value:
        return f"{_DOTS}@{value.rsplit('@', 1)[1]}"
    tail = value[-4:] if len(value) > 6 else ""
    return f"{_DOTS}{tail}"
