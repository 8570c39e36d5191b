"""The implementations the contract suite runs against: a name, how to open a
:class:`storage.base.Store` from the settings, and how to change its data behind its back (a
second implementation is one more entry); and the servers of the suite's own."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gateway.dev.servers import LocalStack
from gateway.settings import Settings
from storage.base import Store
from storage.open import open_store
from storage.values import TenantInfo
from tests.contract.mongo_tamper import MongoTamper
from tests.contract.tamper import Tamper

__all__ = ["BACKENDS", "Backend", "OwnServers"]


@dataclass(frozen=True)
class Backend:
    name: str
    open: Callable[[Settings], Store]
    tamper: Callable[[Store], Tamper]


BACKENDS = (Backend("mongodb", lambda s: open_store(s.regions(), s.audit_mac()), MongoTamper.of),)


@dataclass(frozen=True)
class OwnServers:
    """Servers only the contract suite uses, for what stops a server or acts on every
    tenant of a region (purges, key rotation), and the settings over them."""

    stack: LocalStack
    settings: Settings
    #: What a store answered before anything was written: every tenant, per region too,
    #: and each region's data keys per master key.
    empty_tenants: Mapping[str, list[TenantInfo]]
    empty_providers: Mapping[str, dict[str, int]]
