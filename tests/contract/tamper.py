"""Changes behind the store's back, for the contract's promises about data changed outside
the gateway (each backend says how to make them in its database)."""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Literal

from storage.incidentvalues import Compromised

__all__ = ["DocumentKind", "Tamper"]

DocumentKind = Literal[
    "users",
    "roles",
    "api_keys",
    "settings",
    "control",
    "incidents",
    "tenant_contact",
    "principal_blocks",
]


class Tamper(ABC):
    """What someone with access to a backend's database could change behind the gateway's
    back: the contract promises what its stores do then (a document changed outside the
    gateway is absent, a changed entry fails verification)."""

    @abstractmethod
    async def document(self, tenant_id: str, kind: DocumentKind, doc_id: str) -> None:
        """Change a document the gateway trusts: a user, role, API key, settings document
        (by its id: ``security``, ``operations``, ``reports``) or the tenant's control
        record (*doc_id* its tenant id)."""

    @abstractmethod
    async def drop_document(self, tenant_id: str, kind: DocumentKind, doc_id: str) -> None:
        """Delete a document the gateway trusts (not the control record)."""

    @abstractmethod
    async def copy_document(self, tenant_id: str, kind: DocumentKind, doc_id: str) -> Any:
        """A trusted document as stored, to be put back later (:meth:`put_back`)."""

    @abstractmethod
    async def put_back(self, tenant_id: str, kind: DocumentKind, copy: Any) -> None:
        """Replace a trusted document with a copy taken earlier (valid then)."""

    @abstractmethod
    async def detection_thresholds(self, tenant_id: str, name: str, value: int) -> None:
        """Set one detection threshold (e.g. ``read_records``) in the stored settings, leaving
        the rest of the document as it is."""

    @abstractmethod
    async def incident_claim(
        self,
        tenant_id: str,
        rule: str,
        compromised: Sequence[Compromised],
        incident: str | None,
        at: dt.datetime,
    ) -> None:
        """Put the claim detection takes before opening an incident of *rule* about
        *compromised* (naming *incident*, taken at *at*), as if a gateway had taken it."""

    @abstractmethod
    async def audit_entry(self, tenant_id: str, seq: int) -> None:
        """Change audit entry *seq*."""

    @abstractmethod
    async def last_checkpoint(self, tenant_id: str) -> None:
        """Change the head the last checkpoint of the audit log signs."""

    @abstractmethod
    async def copy_export_filter(self, source: tuple[str, str], target: tuple[str, str]) -> None:
        """Put the stored filter of export job *source* (tenant id, job id) into *target*'s,
        as copied by someone who cannot decrypt it."""

    @abstractmethod
    async def plain_export_filter(self, tenant_id: str, job_id: str) -> None:
        """Replace a job's stored (encrypted) filter by bytes that are no ciphertext."""
