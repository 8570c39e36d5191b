"""Introspection shows each caller only what their policy allows.

graphql-core resolves ``__Type.fields`` and ``__Type.inputFields`` with resolvers on its
shared introspection types; we wrap those two so that, whenever the request context holds
a policy, fields the policy does not allow are left out. Filtering at the resolver, not in
the response, means aliases and fragments in an introspection query cannot get around it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLResolveInfo
from graphql.type.introspection import introspection_types

from resolvers.policy import Policy

__all__ = ["install_introspection_filter"]

_INSTALLED = False


def _filtered(resolve: Callable[..., Any]) -> Callable[..., Any]:
    def resolver(type_: Any, info: GraphQLResolveInfo[Any], **kwargs: Any) -> Any:
        items = resolve(type_, info, **kwargs)
        policy: Policy | None = getattr(info.context, "policy", None)
        if items is None or policy is None:
            return items
        return [(name, f) for name, f in items if policy.allows(type_.name, name)]

    return resolver


def install_introspection_filter() -> None:
    """Wrap the introspection resolvers once per process."""
    global _INSTALLED
    if _INSTALLED:
        return
    type_type = introspection_types["__Type"]
    for name in ("fields", "inputFields"):
        definition = type_type.fields[name]  # type: ignore[attr-defined]
        definition.resolve = _filtered(definition.resolve)
    _INSTALLED = True
