"""Persisted operations: automatic persisted queries and the per-tenant allow-list mode.

A client may send ``extensions.persistedQuery = {version: 1, sha256Hash}`` instead of the
document (the automatic persisted queries convention). If the tenant has no document with
that hash the answer is the error ``PERSISTED_QUERY_NOT_FOUND``, and the client sends
again with the document, which registers it (after checking that the hash is the SHA-256
of the document's text: ``BAD_USER_INPUT`` if not). Registered documents are stored per
tenant (storage: ``operations``), through the audited write path.

Only a document the caller may run is registered: it must pass the same authorisation as
running it, under the caller's policy, and a token limited to enrolling a second factor
registers nothing (the request then runs, or is refused, as any other). A stored document
holds no values (:mod:`gateway.storeddocuments`): one with literals is ``BAD_USER_INPUT``.

In allow-list mode (a tenant admin's ``setOperationAllowList(enabled: true)``), only
registered documents run, sent by hash or in full; any other is ``OPERATION_NOT_ALLOWED``
and nothing registers itself: admins register documents with ``registerOperation``.
Documents that only manage the allow-list itself always run (for admins: the policy still
decides), so admins cannot lock themselves out.

Each process caches *size* registered documents and the modes of *tenants* tenants (least
recently used forgotten first), each mode for ``recheck_seconds``; a change made through
this process applies here at once.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from typing import Any

import orjson
from cachetools import LRUCache
from graphql import GraphQLError, GraphQLSchema, parse

from gateway.storeddocuments import check_storable
from resolvers.authz.document import authorize
from resolvers.authz.policy import Policy
from resolvers.context import Principal
from resolvers.docshape import measure
from resolvers.documents import root_fields
from schema.errors import (
    BadUserInputError,
    EnclaveError,
    OperationNotAllowedError,
    PersistedQueryNotFoundError,
)
from storage.base import Store
from storage.caches import TENANT_CACHE_SIZE
from storage.values import Actor

__all__ = [
    "MANAGEMENT_FIELDS",
    "PersistedOperations",
]

log = logging.getLogger("enclave.persisted")

#: Root fields that manage the allow-list: never refused by it.
MANAGEMENT_FIELDS = frozenset({"setOperationAllowList", "registerOperation"})
_HASH = re.compile(r"^[0-9a-f]{64}$")


def digest(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def _manages_allow_list(document: str, max_tokens: int) -> bool:
    try:
        parsed = parse(document, max_tokens=max_tokens)
    except GraphQLError:
        return False
    fields = root_fields(parsed, operations_only=True)
    return bool(fields) and set(fields or ()) <= MANAGEMENT_FIELDS


class PersistedOperations:
    def __init__(
        self,
        store: Store,
        *,
        recheck_seconds: float,
        max_tokens: int,
        size: int = 10_000,
        tenants: int = TENANT_CACHE_SIZE,
    ) -> None:
        self._store = store
        self._recheck = recheck_seconds
        self._max_tokens = max_tokens
        self.documents: LRUCache[tuple[str, str], str] = LRUCache(size)
        self.modes: LRUCache[str, tuple[bool, float]] = LRUCache(tenants)

    async def allow_list(self, tenant_id: str) -> bool:
        cached = self.modes.get(tenant_id)
        if cached is not None and time.monotonic() - cached[1] < self._recheck:
            return cached[0]
        try:
            enabled = await self._store.for_tenant(tenant_id).operations.allow_list()
        except EnclaveError:
            # The tenant's region is unreachable: keep the last known mode. Never known,
            # the request goes on and meets the same outage on its own reads and writes
            # (all of a tenant's data is in that region), answered as it always was.
            log.warning("allow-list mode of %s unknown: region unavailable", tenant_id)
            return cached[0] if cached is not None else False
        self.modes[tenant_id] = (enabled, time.monotonic())
        return enabled

    async def set_allow_list(self, tenant_id: str, enabled: bool, actor: Actor) -> None:
        await self._store.for_tenant(tenant_id).operations.set_allow_list(enabled, actor)
        self.modes[tenant_id] = (enabled, time.monotonic())

    async def document(self, tenant_id: str, hash_: str) -> str | None:
        cached = self.documents.get((tenant_id, hash_))
        if cached is not None:
            return cached
        found = await self._store.for_tenant(tenant_id).operations.document(hash_)
        if found is not None:
            self.documents[(tenant_id, hash_)] = found
        return found

    async def register(
        self, tenant_id: str, document: str, actor: Actor, *, field: str = "document"
    ) -> str:
        """Register *document* for the tenant; its hash. ``BAD_USER_INPUT`` (naming
        *field*) if it is not GraphQL or holds values."""
        try:
            parsed = parse(document, max_tokens=self._max_tokens)
        except GraphQLError:
            raise BadUserInputError("the document is not valid GraphQL", field=field) from None
        check_storable(document, parsed, field)
        hash_ = digest(document)
        await self._store.for_tenant(tenant_id).operations.register(hash_, document, actor)
        self.documents[(tenant_id, hash_)] = document
        return hash_

    def _may_register(
        self, principal: Principal, policy: Policy, schema: GraphQLSchema, document: str
    ) -> bool:
        """Whether the caller may run every operation of *document* (and so register it)."""
        if principal.scope is not None:  # e.g. a token that may only enrol a second factor
            return False
        try:
            parsed = parse(document, max_tokens=self._max_tokens)
            measure(parsed)  # a fragment cycle is refused before the authorisation walk
        except (GraphQLError, BadUserInputError):
            return False  # the request checks answer
        return not authorize(schema, parsed, None, policy).errors

    async def resolve(
        self,
        principal: Principal,
        actor: Actor,
        body: bytes,
        *,
        policy: Policy,
        schema: GraphQLSchema,
    ) -> bytes:
        """The request body to run: with the registered document filled in for a hash.
        Raises the errors above; leaves malformed bodies for the request checks."""
        try:
            request: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body
        if not isinstance(request, dict):
            return body
        tenant = principal.tenant_id
        extensions = request.get("extensions")
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        query = request.get("query")
        if persisted is None:
            if isinstance(query, str) and await self.allow_list(tenant):
                await self._require_registered(tenant, digest(query), query)
            return body
        hash_ = _checked_hash(persisted)
        if isinstance(query, str):
            if digest(query) != hash_:
                raise BadUserInputError(
                    "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query",
                    field="extensions.persistedQuery.sha256Hash",
                )
            if await self.allow_list(tenant):
                await self._require_registered(tenant, hash_, query)
            elif await self.document(tenant, hash_) is None and self._may_register(
                principal, policy, schema, query
            ):
                await self.register(tenant, query, actor, field="query")
            return body
        if query is not None:
            return body  # not a string: the request checks answer
        document = await self.document(tenant, hash_)
        if document is None:
            raise PersistedQueryNotFoundError()
        request["query"] = document
        return orjson.dumps(request)

    async def _require_registered(self, tenant: str, hash_: str, query: str) -> None:
        if await self.document(tenant, hash_) is None and not _manages_allow_list(
            query, self._max_tokens
        ):
            raise OperationNotAllowedError()


def _checked_hash(persisted: object) -> str:
    field = "extensions.persistedQuery"
    if not isinstance(persisted, dict):
        raise BadUserInputError(f"{field} must be an object", field=field)
    if persisted.get("version") != 1:
        raise BadUserInputError(f"{field}.version must be 1", field=f"{field}.version")
    hash_ = persisted.get("sha256Hash")
    if not isinstance(hash_, str) or not _HASH.match(hash_):
        raise BadUserInputError(
            f"{field}.sha256Hash must be 64 lowercase hexadecimal digits",
            field=f"{field}.sha256Hash",
        )
    return hash_
