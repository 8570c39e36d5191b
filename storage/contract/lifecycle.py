"""Operators' changes of tenants' states, and the purge that destroys a tenant's data.

States::

    provisioning -> active <-> suspended
                    active | suspended -> terminated -> active (restore, before the purge date)
                                          terminated -> purging -> purged

A purge destroys the tenant's data key (crypto-shredding: every copy of its ciphertext,
backups included, can no longer be decrypted) and its database, and leaves a certificate.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from storage.values import Actor, PurgeOutcome, TenantInfo

__all__ = ["TenantLifecycle"]


class TenantLifecycle(ABC):
    """State changes of any tenant, addressed by id. Every change is claimed atomically (of
    two operators changing one tenant at once exactly one wins; the other gets
    ``ConflictError``), audited in the tenant's own log, and kept in its history.
    ``NotFoundError`` for an unknown tenant, ``DataIntegrityError`` if its control record
    was changed outside the gateway, ``ConflictError`` naming the state when the tenant's
    state does not allow the change; each method returns the control record after it."""

    @abstractmethod
    async def suspend(self, tenant_id: str, actor: Actor) -> TenantInfo:
        """``active -> suspended``: every request is refused; the data is kept."""

    @abstractmethod
    async def resume(self, tenant_id: str, actor: Actor) -> TenantInfo:
        """``suspended -> active``."""

    @abstractmethod
    async def terminate(
        self, tenant_id: str, actor: Actor, retention_days: int | None = None
    ) -> TenantInfo:
        """``active | suspended -> terminated``, purge due after *retention_days* (default:
        the tenant's). ``BadUserInputError`` for a period outside 0 to 3650 days."""

    @abstractmethod
    async def restore(self, tenant_id: str, actor: Actor) -> TenantInfo:
        """``terminated -> active`` before the purge date (``ConflictError`` after it)."""

    @abstractmethod
    async def set_retention(self, tenant_id: str, days: int, actor: Actor) -> TenantInfo:
        """Set the retention period; moves a terminated tenant's purge date.
        ``BadUserInputError`` as :meth:`terminate`."""

    @abstractmethod
    async def history(self, tenant_id: str) -> list[dict[str, Any]]:
        """Every change of the tenant's state, oldest first: ``action``, ``from``, ``to``,
        ``at``, ``actor`` (kind and id); no personal data; [] for none."""

    @abstractmethod
    async def purge(
        self, tenant_id: str, actor: Actor, *, before_due: bool = False
    ) -> Mapping[str, Any]:
        """Purge a terminated tenant whose purge is due (or now, *before_due*), or finish a
        purge that was interrupted; the deletion certificate (a purged tenant's is returned
        as it is). ``ConflictError`` before the due date, within seconds of the
        termination (gateways may still be finishing its requests), or unless the tenant
        is terminated or purging."""

    @abstractmethod
    async def purge_due(self, actor: Actor) -> list[PurgeOutcome]:
        """Purge every tenant whose purge is due and finish interrupted purges, in every
        region; a region that does not answer, or a tenant that fails, is an outcome with
        its error code, not an exception. Safe to run from every gateway at once."""
