"""Introspection shows each caller only what their policy allows.

graphql-core resolves introspection with resolvers on its shared introspection types; we
wrap them so that, whenever the request context holds a policy:

- ``__Type.fields`` and ``__Type.inputFields`` leave out fields the policy does not allow;
- ``__schema { types }``, ``__type(name:)``, ``possibleTypes`` and ``interfaces`` show only
  the types the caller can reach: those named by a field or argument the policy allows,
  starting from the root fields it allows (and the introspection types themselves). An
  admin-only type (``Role``, ``ApiKey``, ``RoleInput``…) is then unknown to other callers,
  whatever the query's shape: ``__type(name: "Role")`` is null.

Filtering at the resolver, not in the response, means aliases and fragments in an
introspection query cannot get around it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from cachetools import LRUCache
from graphql import (
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
)
from graphql.type.introspection import TypeMetaFieldDef, introspection_types

from resolvers.authz.policy import Policy

__all__ = ["REACHABLE", "install_introspection_filter", "reachable_types"]

_INSTALLED = False
#: Types each policy reaches (keyed by tenant and policy), computed again once forgotten.
REACHABLE: LRUCache[tuple[int, str, Any], frozenset[str]] = LRUCache(1_000)


def reachable_types(schema: GraphQLSchema, policy: Policy) -> frozenset[str]:
    """Names of the types a caller with *policy* can reach from the root fields it may use,
    through the fields and arguments it may use. One walk of the schema."""
    roots: list[GraphQLNamedType | None] = [
        schema.query_type,
        schema.mutation_type,
        schema.subscription_type,
        *introspection_types.values(),
    ]
    for directive in schema.directives:
        roots.extend(get_named_type(arg.type) for arg in directive.args.values())
    seen: set[str] = set()
    stack = [t for t in roots if t is not None]
    while stack:
        named = stack.pop()
        if named.name in seen:
            continue
        seen.add(named.name)
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for name, field in named.fields.items():
                if policy.allows(named.name, name):
                    stack.append(get_named_type(field.type))
                    stack.extend(get_named_type(a.type) for a in field.args.values())
            stack.extend(named.interfaces)
        if isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
            stack.extend(schema.get_possible_types(named))
        if isinstance(named, GraphQLInputObjectType):
            for name, input_field in named.fields.items():
                if policy.allows(named.name, name):
                    stack.append(get_named_type(input_field.type))
    return frozenset(seen)


def _policy(info: GraphQLResolveInfo[Any]) -> Policy | None:
    return getattr(info.context, "policy", None)


def _reachable(info: GraphQLResolveInfo[Any], policy: Policy) -> frozenset[str]:
    principal = getattr(info.context, "principal", None)
    tenant = getattr(principal, "tenant_id", "")
    # As the authorisation cache: a policy is known by its tenant, roles and version.
    key = (id(info.schema), tenant, policy.key)
    names = REACHABLE.get(key)
    if names is None:
        names = reachable_types(info.schema, policy)
        REACHABLE[key] = names
    return names


def _fields_filtered(resolve: Callable[..., Any]) -> Callable[..., Any]:
    def resolver(type_: Any, info: GraphQLResolveInfo[Any], **kwargs: Any) -> Any:
        items = resolve(type_, info, **kwargs)
        policy = _policy(info)
        if items is None or policy is None:
            return items
        return [(name, f) for name, f in items if policy.allows(type_.name, name)]

    return resolver


def _types_filtered(resolve: Callable[..., Any]) -> Callable[..., Any]:
    def resolver(parent: Any, info: GraphQLResolveInfo[Any], **kwargs: Any) -> Any:
        types: Iterable[GraphQLNamedType] | None = resolve(parent, info, **kwargs)
        policy = _policy(info)
        if types is None or policy is None:
            return types
        names = _reachable(info, policy)
        return [t for t in types if t.name in names]

    return resolver


def _type_by_name(resolve: Callable[..., Any]) -> Callable[..., Any]:
    def resolver(parent: Any, info: GraphQLResolveInfo[Any], **kwargs: Any) -> Any:
        found: GraphQLNamedType | None = resolve(parent, info, **kwargs)
        policy = _policy(info)
        if found is None or policy is None:
            return found
        return found if found.name in _reachable(info, policy) else None

    return resolver


def install_introspection_filter() -> None:
    """Wrap the introspection resolvers once per process."""
    global _INSTALLED
    if _INSTALLED:
        return
    type_type = introspection_types["__Type"]
    schema_type = introspection_types["__Schema"]
    wrapped = [
        (type_type.fields["fields"], _fields_filtered),  # type: ignore[attr-defined]
        (type_type.fields["inputFields"], _fields_filtered),  # type: ignore[attr-defined]
        (type_type.fields["possibleTypes"], _types_filtered),  # type: ignore[attr-defined]
        (type_type.fields["interfaces"], _types_filtered),  # type: ignore[attr-defined]
        (schema_type.fields["types"], _types_filtered),  # type: ignore[attr-defined]
        (TypeMetaFieldDef, _type_by_name),
    ]
    for definition, wrap in wrapped:
        definition.resolve = wrap(definition.resolve)
    _INSTALLED = True
