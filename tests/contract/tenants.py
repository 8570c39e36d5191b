"""A tenant of the store under test, as the behaviour tests get it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from storage.base import TenantStore
from storage.values import Actor, TenantInfo, User
from tests.contract.data import actor_of

__all__ = ["NewTenant", "Tenant"]


@dataclass(frozen=True)
class Tenant:
    """A tenant, its first admin, and its handle."""

    info: TenantInfo
    admin: User
    handle: TenantStore

    @property
    def actor(self) -> Actor:
        """The tenant's admin, as a change by them is audited."""
        return actor_of(self.admin)


#: Creates a tenant (EU unless another country is given) with nothing in it but its admin.
NewTenant = Callable[..., Awaitable[Tenant]]
