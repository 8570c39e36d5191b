"""Bounded caches of the document checks: validation per document, authorisation per
caller's policy, compiled read operations per document and operation name."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Generic, TypeVar

from graphql import GraphQLError

from resolvers.authz.document import Authorization

__all__ = ["LRU", "AuthorizationCache"]

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A small bounded mapping that forgets the least recently used entry."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self._size:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


class AuthorizationCache:
    """Validation results per document, authorisation results per caller's policy, and
    compiled read operations per (document, operation name) (resolvers.compiled: False
    for a document the compiler leaves to the standard executor)."""

    def __init__(self, size: int = 10_000) -> None:
        self.validated: LRU[str, tuple[GraphQLError, ...]] = LRU(size)
        self.authorized: LRU[tuple[Any, ...], Authorization] = LRU(size)
        self.operations: LRU[tuple[str, str | None], object] = LRU(size)
