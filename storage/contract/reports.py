"""Reports over one tenant's records: aggregates, saved definitions, the minimum group size."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from schema.datasheets import Datasheet
from storage.values import Actor, ReportGroup, ReportQuery, SavedReport

__all__ = ["ReportStore"]


class ReportStore(ABC):
    """Aggregates over one tenant's records, saved report definitions and the tenant's
    minimum group size (k). Changes are audited."""

    @abstractmethod
    async def aggregate(self, sheet: Datasheet, query: ReportQuery) -> list[ReportGroup]:
        """The groups of *query*, unsuppressed; grouped in the database where the fields
        allow, otherwise streamed in bounded memory; [] when no record matches.
        ``BadUserInputError`` (field ``groupBy``) past ``query.max_groups`` groups."""

    @abstractmethod
    async def minimum_group_size(self) -> int:
        """The tenant's k (5 unless set). ``DataIntegrityError`` if the setting was changed
        outside the gateway: no report runs on a k nobody can vouch for."""

    @abstractmethod
    async def set_minimum_group_size(self, k: int, actor: Actor) -> None:
        """Set k; audited."""

    @abstractmethod
    async def list_definitions(self) -> list[SavedReport]:
        """Every saved definition, by id; [] for none."""

    @abstractmethod
    async def get_definition(self, report_id: str) -> SavedReport | None:
        """The saved definition *report_id*, None if there is none (or it was deleted)."""

    @abstractmethod
    async def put_definition(
        self,
        report_id: str | None,
        name: str,
        definition: Mapping[str, Any],
        expected_version: int | None,
        actor: Actor,
    ) -> SavedReport:
        """Create (*report_id* None) or update (at *expected_version*) a definition;
        audited; the definition at its new version. ``NotFoundError`` (field ``id``) for an
        unknown *report_id*, ``ConflictError`` at another version."""

    @abstractmethod
    async def delete_definition(
        self, report_id: str, expected_version: int, actor: Actor
    ) -> SavedReport:
        """Delete a definition at *expected_version*; audited; its last state.
        ``NotFoundError`` (field ``id``), or ``ConflictError`` at another version."""
