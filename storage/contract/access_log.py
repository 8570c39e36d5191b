"""Who saw what: one tenant's access log and sign-in history."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from storage.values import AccessEvent, AccessQuery

__all__ = ["AccessLogStore"]


class AccessLogStore(ABC):
    """Access events (reads, exports, reports, sign-ins): ids and field names, never values;
    the client's address and a declared purpose are stored encrypted."""

    @abstractmethod
    async def append(self, events: Sequence[AccessEvent]) -> None:
        """Append *events* in one batch (nothing for an empty batch)."""

    @abstractmethod
    async def page(
        self, query: AccessQuery, *, first: int, after: Any | None = None
    ) -> tuple[list[AccessEvent], bool]:
        """Up to *first* events matching *query*, newest first, before the event id *after*
        (an :attr:`AccessEvent.id`); and whether there are more. ``([], False)`` for none."""
