"""One tenant's audit log: entries written, read, redacted, and settled after a crash."""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from storage.values import Actor, AuditEntry, AuditQuery

__all__ = ["AuditStore"]


class AuditStore(ABC):
    """The audit log of one tenant. Record changes write their entries themselves (the
    audited write path of the other stores); this writes the entries of everything else,
    reads them, redacts their values for an erasure, and settles intents a crash left.

    Entries hold ids, names and counts; values (personal data) are kept encrypted beside
    them, committed to by the entry, so redacting them leaves the hash chain intact."""

    @abstractmethod
    async def record_event(
        self,
        op: str,
        actor: Actor,
        detail: Mapping[str, Any],
        values: Mapping[str, Any] | None = None,
    ) -> int:
        """Audit an action that changes no record (an export, a lifecycle change, an
        erasure) as settled at once; *detail* holds ids, counts and names, never personal
        data; *values* (personal data, such as an export's filter) are kept encrypted and
        redactable. Returns the entry's sequence number."""

    @abstractmethod
    async def record_attempt(
        self,
        operation: str,
        actor: Actor,
        code: str,
        *,
        datasheet: str | None = None,
        record: str | None = None,
        fields: Sequence[str] = (),
    ) -> None:
        """Audit a mutation that was refused or failed (error *code*) without changing
        anything: field names only, never values; its outcome is ``refused``."""

    @abstractmethod
    async def page(
        self,
        query: AuditQuery,
        *,
        first: int,
        after: int | None = None,
        with_values: bool = False,
    ) -> tuple[list[AuditEntry], bool]:
        """Up to *first* entries matching *query*, newest first, before the sequence number
        *after*, with their values (decrypted, unless redacted) only *with_values*; and
        whether there are more. ``([], False)`` for none."""

    @abstractmethod
    async def redact(self, record_ids: Sequence[str], actor: Actor) -> int:
        """Redact the values of every entry about *record_ids* (an erasure); the chain
        still verifies. The redaction is itself audited (``redact``, naming the entries).
        Returns how many entries were redacted, 0 (and no entry) when none has values."""

    @abstractmethod
    async def reconcile(self, *, older_than: dt.timedelta) -> int:
        """Settle intents left pending by a crash whose writer's lease ended more than
        *older_than* ago (committed if the change shows or is rolled forward, otherwise
        aborted) and drop values no entry points to; returns how many were settled."""

    @abstractmethod
    async def pending_intents(self) -> int:
        """How many intents have no outcome yet (writes in flight, or left by a crash and
        not yet settled): the audit backlog; 0 when everything is settled."""
