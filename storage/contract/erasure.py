"""Erasing one data subject (right to erasure), by email."""

from __future__ import annotations

from abc import ABC, abstractmethod

from storage.values import Actor, ErasureReport

__all__ = ["SubjectErasure"]


class SubjectErasure(ABC):
    """Everything of one person, across every datasheet of the tenant."""

    @abstractmethod
    async def erase(self, email: str, actor: Actor) -> ErasureReport:
        """Delete (audited) every record of every datasheet with *email* in an email field,
        archived ones included; redact the values of their audit entries and of entries that
        name the email (subject access requests, filtered exports); forget exports filtered
        by it; and audit the erasure (ids and counts, never the email). Rerunning it after a
        crash finishes the erasure. An email nobody has gives an empty report (and an
        entry). ``ConflictError`` if the records keep changing under it."""
