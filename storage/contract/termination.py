"""The tenant's own admins ending its environment."""

from __future__ import annotations

from abc import ABC, abstractmethod

from storage.values import Actor, TenantInfo

__all__ = ["Termination"]


class Termination(ABC):
    """Termination asked for from inside the tenant (operators use
    :class:`storage.contract.lifecycle.TenantLifecycle`)."""

    @abstractmethod
    async def request(self, actor: Actor) -> TenantInfo:
        """Make the tenant ``terminated`` (no access; purged after its retention period);
        audited in its log and its lifecycle history; its control record after the change.
        ``ConflictError`` unless it is active."""
