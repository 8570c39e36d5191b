"""Bounded caches of the document checks: validation per document, authorisation per
caller's policy, compiled read operations per document and operation name (``cachetools``
LRUs: the least recently used entry is forgotten first, and computed again when needed)."""

from __future__ import annotations

from typing import Any

from cachetools import LRUCache
from graphql import GraphQLError

from resolvers.authz.document import Authorization

__all__ = ["AuthorizationCache"]


class AuthorizationCache:
    """Validation results per document, authorisation results per caller's policy, and
    compiled read operations per (document, operation name) (resolvers.compiled: False
    for a document the compiler leaves to the standard executor)."""

    def __init__(self, size: int = 10_000) -> None:
        self.validated: LRUCache[str, tuple[GraphQLError, ...]] = LRUCache(size)
        self.authorized: LRUCache[tuple[Any, ...], Authorization] = LRUCache(size)
        self.operations: LRUCache[tuple[str, str | None], object] = LRUCache(size)
