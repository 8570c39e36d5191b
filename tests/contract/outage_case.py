"""One call of a contract method made while its region's server is down, and what it must
do then: raise ``RegionUnavailableError`` naming the region, or (a method that needs no
server by design, *no_io* saying why) return normally, its result passing *check*."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.contract.contracts import method_name

if TYPE_CHECKING:
    from tests.contract.outage import Outage

__all__ = ["Case", "case"]


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    call: Callable[[Outage], Any]
    no_io: str | None = None
    check: Callable[[Outage, Any], bool] | None = None


def case(
    member: object,
    call: Callable[[Outage], Any],
    *,
    variant: str | None = None,
    no_io: str | None = None,
    check: Callable[[Outage, Any], bool] | None = None,
) -> Case:
    method = method_name(member)
    return Case(method if variant is None else f"{method}[{variant}]", method, call, no_io, check)
