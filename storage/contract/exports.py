"""Bulk export jobs of one tenant, and the one download each job allows."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from storage.values import Actor, ExportJob

__all__ = ["ExportStore"]


class ExportStore(ABC):
    """Export jobs: stored with their filter encrypted, downloaded once, every step audited
    (ids, names and counts in the entry; the filter's values encrypted and redactable)."""

    @abstractmethod
    async def create(self, job: ExportJob, actor: Actor) -> None:
        """Store *job* and audit it (``export``: who, which fields, the filter encrypted)."""

    @abstractmethod
    async def get(self, job_id: str) -> ExportJob | None:
        """The job *job_id*, None if there is none (or an erasure forgot it).
        ``DataIntegrityError`` if its filter is not one this tenant wrote: under another
        tenant's key, or not ciphertext at all (never handed on, never decrypted)."""

    @abstractmethod
    async def claim(self, job_id: str, actor: Actor) -> bool:
        """Take the job's one download, atomically on every server (an insert under a
        unique key): True for the first caller only, False for every later one and for an
        unknown job. The download is audited (``export_download``)."""

    @abstractmethod
    async def record_done(self, job: ExportJob, actor: Actor, rows: int, complete: bool) -> None:
        """Audit how many rows a download sent and whether it ran to the end
        (``export_done``)."""

    @abstractmethod
    async def revoke_unused(
        self,
        principals: Sequence[str],
        job_ids: Sequence[str],
        actor: Actor,
        sessions: Sequence[str] = (),
    ) -> list[str]:
        """Take the one download of every job started by one of *principals* (user or key
        ids), in one of the sign-in *sessions*, or listed in *job_ids* that was not
        downloaded yet, so its link no longer works
        (a breach's containment); each revocation audited (``export_revoke``). The ids of
        the jobs revoked, sorted; ids of no job are ignored."""
