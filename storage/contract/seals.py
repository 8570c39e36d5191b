"""Signed checkpoints of one tenant's audit hash chain, and its verification."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from storage.auditmac import SignedHead
from storage.signing import SealKey
from storage.values import VerifyReport

__all__ = ["SealStore"]


class SealStore(ABC):
    """Sealing chains the settled entries (each with its MAC, made under a key the database
    never holds) and stores signed checkpoints; verification recomputes the chain and names
    the first entry that does not match. *key* signs and checks checkpoints and heads."""

    @abstractmethod
    async def seal(self, key: SealKey, known: Sequence[SignedHead] = ()) -> int:
        """Seal the settled entries after the last checkpoint; returns how many (0 when
        none is new). ``AuditTamperedError`` (after sealing the entries before it) at an
        entry or outcome whose MAC fails, if the last checkpoint does not verify, or if the
        checkpoint of a *known* head is gone: changed history is never sealed."""

    @abstractmethod
    async def verify(self, key: SealKey, heads: Sequence[SignedHead] = ()) -> VerifyReport:
        """Check every entry's and outcome's MAC, that sequence numbers are contiguous, the
        checkpoints, and the log against *heads* (and receipts) kept outside the database;
        the report names the first entry that does not match. An empty log verifies."""

    @abstractmethod
    def receipts(self, key: SealKey) -> list[SignedHead]:
        """Signed receipts (sequence number and MAC) of the entries written through this
        tenant handle, for the caller to keep outside the database; [] if none was."""

    @abstractmethod
    async def head(self, key: SealKey) -> SignedHead | None:
        """The head of the last checkpoint, signed; None before the first seal.
        ``AuditTamperedError`` if that checkpoint's signature fails."""
