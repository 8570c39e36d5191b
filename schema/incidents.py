"""GraphQL inputs and enums of breach incidents shared by their parts (incidents, impact,
notification).

Not ``from __future__ import annotations``: Strawberry reads these annotations at runtime.
"""

import datetime as dt
import enum

import strawberry

from schema.errors import BadUserInputError
from storage.incidentvalues import Compromised

__all__ = ["CompromisedInput", "CompromisedKindEnum", "compromised_of", "utc_time"]


@strawberry.enum(name="CompromisedKind")
class CompromisedKindEnum(enum.Enum):
    USER = "user"
    API_KEY = "api_key"
    SESSION = "session"
    EXPORT_LINK = "export_link"
    PLATFORM = "platform"


@strawberry.input(description="What was compromised: a principal or link by id, or PLATFORM.")
class CompromisedInput:
    kind: CompromisedKindEnum
    id: strawberry.ID | None = None


def compromised_of(inputs: list[CompromisedInput]) -> tuple[Compromised, ...]:
    """The storage values of *inputs*; ``BAD_USER_INPUT`` for none, an id missing (or given
    for PLATFORM), or more than 100."""
    if not inputs or len(inputs) > 100:
        raise BadUserInputError("name between 1 and 100 compromised principals or links")
    out: list[Compromised] = []
    for item in inputs:
        platform = item.kind is CompromisedKindEnum.PLATFORM
        if platform != (item.id is None) or (item.id is not None and not 0 < len(item.id) <= 64):
            raise BadUserInputError(
                "an id for every compromised principal or link, none for PLATFORM"
            )
        out.append(Compromised(kind=item.kind.value, id=None if item.id is None else str(item.id)))
    return tuple(dict.fromkeys(out))


#: The times an incident, a window or an impact may name.
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)


def utc_time(value: dt.datetime, field: str) -> dt.datetime:
    """*value* as an aware UTC time (a time without an offset is taken as UTC);
    ``BAD_USER_INPUT`` naming *field* outside the years 2000 to 8999."""
    try:
        at = value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    except (OverflowError, ValueError):
        at = None
    if at is None or not EARLIEST <= at < LATEST:
        raise BadUserInputError(f"{field} must be between the years 2000 and 8999", field=field)
    return at
