"""What every resolver gets: who is asking, and the store scoped to their tenant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from storage.base import Actor, TenantStore

__all__ = ["Principal", "RequestContext"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    tenant_id: str
    user_id: str
    roles: tuple[str, ...]
    kind: Literal["user", "api_key"] = "user"


@dataclass(frozen=True, slots=True)
class RequestContext:
    principal: Principal
    store: TenantStore
    actor: Actor
    default_page_size: int
    max_page_size: int
