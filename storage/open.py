"""The one place a store is chosen and built (called by the composition root).

The backend is chosen by the scheme of the regions' connection strings, as encode/databases
chooses a backend by URL: every region of a store uses the same one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from regions.catalog import RegionConfig
from regions.clients import RegionRegistry
from regions.countries import RegionName
from storage.auditmac import EntryAuthenticator
from storage.base import Store
from storage.caches import TENANT_CACHE_SIZE
from storage.mongo.store import MongoStore

__all__ = ["open_store"]

_MONGODB = frozenset({"mongodb", "mongodb+srv"})


def open_store(
    regions: Mapping[RegionName, RegionConfig],
    audit_mac: EntryAuthenticator,
    *,
    listeners: Callable[[RegionName], Sequence[Any]] = lambda _: (),
    on_integrity_error: Callable[[str], None] | None = None,
    on_document_refused: Callable[[str], None] | None = None,
    cache_size: int = TENANT_CACHE_SIZE,
) -> Store:
    """The store over *regions*. *audit_mac* authenticates audit entries and the documents
    trusted for access; *listeners* are each region's driver event listeners (metrics);
    *on_integrity_error* is told the region of every reply refused because it holds a value
    under another tenant's key, *on_document_refused* the kind of every document refused
    because its MAC fails; *cache_size* is how many tenants each per-tenant cache holds.
    ``ValueError`` for a connection string no backend serves."""
    schemes = {urlsplit(c.mongodb_uri.get_secret_value()).scheme for c in regions.values()}
    if unknown := schemes - _MONGODB:
        raise ValueError(f"no storage backend for the scheme {sorted(unknown)[0]!r}")
    return MongoStore(
        RegionRegistry.from_configs(regions, listeners),
        audit_mac,
        on_integrity_error=on_integrity_error,
        on_document_refused=on_document_refused,
        cache_size=cache_size,
    )
