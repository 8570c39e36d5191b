"""Operators' key management: master-key rotation, and MACs for documents of old versions."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from regions.countries import RegionName
from storage.values import Actor, RotationReport

__all__ = ["MasterKeys"]


class MasterKeys(ABC):
    """The master keys that wrap each region's data keys. Data keys never change, only the
    master key wrapping them, so a rotation rewrites no ciphertext; retiring the old master
    key afterwards makes earlier purges final against backups of the key vault."""

    @abstractmethod
    async def providers(self, region: RegionName) -> dict[str, int]:
        """How many data keys of *region* each KMS provider (master key) wraps; {} for
        none."""

    @abstractmethod
    async def rotate(
        self, region: RegionName, provider: str, master_key: Mapping[str, Any] | None = None
    ) -> RotationReport:
        """Rewrap every data key of *region* under *provider* (and its *master_key*, for a
        cloud KMS). ``BadUserInputError`` (field ``provider``) if the region has no such
        provider configured."""

    @abstractmethod
    async def seal_documents(self, actor: Actor) -> dict[str, dict[str, int]]:
        """Upgrading: give every document trusted for access that has no MAC (written by an
        earlier version) one over what it holds now, in every tenant of every region;
        never one whose MAC fails. Per tenant where something was sealed, how many of each
        kind; each such tenant's log gets an entry (``documents_sealed``, counts only)."""
