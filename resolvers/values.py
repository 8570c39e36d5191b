"""Input values checked against their declarations before anything is written.

Errors name the field, never the value: a value is a data subject's data.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import strawberry
from email_validator import EmailNotValidError, validate_email

from schema.datasheets import EMAIL, Datasheet, Field, FieldType
from schema.errors import BadUserInputError
from storage.values import Value

__all__ = ["check_value", "email_address", "input_values"]


def check_value(field: Field, value: Any) -> Value:
    """*value* as storage takes it, or ``BadUserInputError`` naming the field."""
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        value = value.value
    if field.type in (FieldType.STRING, FieldType.EMAIL):
        if not isinstance(value, str):
            raise BadUserInputError(f"{field.name} must be a string", field=field.name)
        value = value.strip()
        if len(value) > field.max_length:
            raise BadUserInputError(
                f"{field.name} is longer than {field.max_length} characters", field=field.name
            )
        if "\x00" in value:
            raise BadUserInputError(f"{field.name} contains a NUL character", field=field.name)
        if field.type is FieldType.EMAIL:
            try:
                value = validate_email(value, check_deliverability=False).normalized.lower()
            except EmailNotValidError:
                raise BadUserInputError(
                    f"{field.name} is not a valid email address", field=field.name
                ) from None
        elif field.required and not value:
            raise BadUserInputError(f"{field.name} must not be empty", field=field.name)
    elif field.type is FieldType.INT and not -(2**53) <= value <= 2**53:
        raise BadUserInputError(f"{field.name} is out of range", field=field.name)
    return value  # type: ignore[no-any-return]


def email_address(value: str) -> str:
    """*value* normalised as an account's or a data subject's email address is stored (so
    that lookups find it); ``BAD_USER_INPUT`` if it is not one."""
    address = check_value(EMAIL, value)
    assert isinstance(address, str)
    return address


def input_values(sheet: Datasheet, data: object) -> dict[str, Value]:
    """The fields set on a GraphQL input object, checked; omitted (UNSET) fields left out."""
    raw: Mapping[str, Any] = vars(data)
    values: dict[str, Value] = {}
    for name, value in raw.items():
        if value is strawberry.UNSET or name not in sheet.by_name:
            continue
        field = sheet.by_name[name]
        if value is None and field.required:
            raise BadUserInputError(f"{field.name} is required and cannot be cleared", field=name)
        values[name] = check_value(field, value)
    return values
