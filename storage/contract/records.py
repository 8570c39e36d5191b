"""The records of one tenant's datasheets: reads within a row scope, audited writes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence

from schema.datasheets import Datasheet
from storage.values import Actor, Page, Record, RowScope, Value

__all__ = ["RecordStore"]


class RecordStore(ABC):
    """Records of one tenant's datasheets.

    Reads fetch and decrypt only the *fields* asked for; *scope* (the caller's row filter)
    becomes part of the database query, so rows outside it are never fetched. Every write
    goes through the audited write path and carries the version it expects."""

    @abstractmethod
    async def get(
        self,
        sheet: Datasheet,
        record_id: str,
        fields: Sequence[str],
        *,
        scope: RowScope | None = None,
    ) -> Record | None:
        """The record *record_id* with *fields*, or None if there is none within *scope*
        (archived records included)."""

    @abstractmethod
    async def page(
        self,
        sheet: Datasheet,
        fields: Sequence[str],
        *,
        first: int,
        after: str | None = None,
        equals: Mapping[str, Value] | None = None,
        include_archived: bool = False,
        scope: RowScope | None = None,
    ) -> Page:
        """Up to *first* records after the opaque cursor *after*, in id order (keyset
        paging), matching *equals* within *scope*; an empty page when there are none.
        ``BadUserInputError`` for a malformed cursor (argument ``after``) or a field in
        *equals* that cannot be filtered on."""

    @abstractmethod
    def stream(
        self,
        sheet: Datasheet,
        fields: Sequence[str],
        *,
        after: str | None = None,
        equals: Mapping[str, Value] | None = None,
        include_archived: bool = False,
        scope: RowScope | None = None,
        batch_size: int = 500,
        read_deadline: float | None = None,
    ) -> AsyncIterator[Record]:
        """Every record within *scope* (and *equals*) after the record id *after*, in id
        order, fetched *batch_size* at a time: memory stays bounded however many there are.

        *read_deadline*: one deadline, in seconds, for the whole stream instead of the
        per-reply socket timeout (a server that sorts in memory, such as FerretDB, sends the
        first batch only after reading every matching record). Errors as :meth:`page`."""

    @abstractmethod
    async def count(
        self,
        sheet: Datasheet,
        *,
        after: str | None = None,
        equals: Mapping[str, Value] | None = None,
        include_archived: bool = False,
        scope: RowScope | None = None,
        read_deadline: float | None = None,
    ) -> int:
        """How many records :meth:`stream` would give, 0 for none (nothing is decrypted)."""

    @abstractmethod
    async def create(
        self,
        sheet: Datasheet,
        values: Mapping[str, Value],
        actor: Actor,
        *,
        scope: RowScope | None = None,
    ) -> Record:
        """Create a record at version 1 owned by *actor*, with every field of *sheet*;
        audited. ``ForbiddenError`` if it would fall outside *scope*."""

    @abstractmethod
    async def update(
        self,
        sheet: Datasheet,
        record_id: str,
        expected_version: int,
        values: Mapping[str, Value],
        actor: Actor,
        *,
        fields: Sequence[str] = (),
        scope: RowScope | None = None,
    ) -> Record:
        """Change *values* (None unsets) of a record at *expected_version*; the result is at
        the next version and carries *fields*. ``NotFoundError`` if there is no such record
        within *scope*, ``ConflictError`` (``currentVersion``) at another version,
        ``ForbiddenError`` if the change would move it outside *scope*,
        ``BadUserInputError`` for no values."""

    @abstractmethod
    async def set_archived(
        self,
        sheet: Datasheet,
        record_id: str,
        expected_version: int,
        archived: bool,
        actor: Actor,
        *,
        fields: Sequence[str] = (),
        scope: RowScope | None = None,
    ) -> Record:
        """Archive or restore a record; versioned, audited and refused like :meth:`update`."""

    @abstractmethod
    async def delete(
        self,
        sheet: Datasheet,
        record_id: str,
        expected_version: int,
        actor: Actor,
        *,
        scope: RowScope | None = None,
    ) -> Record:
        """Delete a record; returns its last metadata (no values), at the deleting version.
        Audited; ``NotFoundError`` and ``ConflictError`` as :meth:`update`."""
