"""The gateway process's caches by name, for ``enclave_cache_entries`` (read at each scrape):
those kept per tenant, bounded by ``Settings.tenant_cache_size``, and those per document or
policy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cachetools import Cache

from resolvers.authz.introspection import REACHABLE

if TYPE_CHECKING:
    from gateway.services import Services

__all__ = ["named_caches"]


def named_caches(services: Services) -> dict[str, Cache[Any, Any]]:
    return {
        "tenants": services.tenants.entries,
        "policies": services.policies.tenants,
        "allow_list_modes": services.operations.modes,
        "api_key_uses": services.api_keys.touched,
        "audit_heads": services.heads.heads,
        "persisted_documents": services.operations.documents,
        "validated_documents": services.authorization.validated,
        "authorizations": services.authorization.authorized,
        "compiled_operations": services.authorization.operations,
        "introspection_reach": REACHABLE,
        "signin_tokens_seen": services.access.seen_tokens,
        **services.store.caches(),
    }
