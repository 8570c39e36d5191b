"""The methods of the storage contract, listed from the contract itself, and which of them
the behaviour tests cover.

A contract method is named ``"<ABC>.<method>"``: every abstract member of each sub-store's
ABC (the annotation of each :class:`storage.base.TenantStore` field but ``tenant_id``), of
:class:`storage.base.Store`, and of the operator contracts it hands out (``lifecycle``,
``keys``). A method added to a contract is listed here without anyone editing this module.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from storage.base import Store, TenantStore
from storage.contract.keys import MasterKeys
from storage.contract.lifecycle import TenantLifecycle

__all__ = [
    "BEHAVIOUR",
    "abstract",
    "contract_methods",
    "contracts",
    "covers",
    "method_name",
    "tenant_contracts",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Every contract method some behaviour test covers (filled by :func:`covers`).
BEHAVIOUR: set[str] = set()


def tenant_contracts() -> dict[str, type]:
    """Each attribute of a tenant handle and the ABC it holds."""
    hints = typing.get_type_hints(TenantStore)
    return {f.name: hints[f.name] for f in dataclasses.fields(TenantStore) if f.name != "tenant_id"}


def contracts() -> list[type]:
    """Every contract: the tenant handle's, ``Store``, and the operators'."""
    return [*tenant_contracts().values(), Store, TenantLifecycle, MasterKeys]


def contract_methods() -> list[str]:
    """Every method of every contract, as ``"<ABC>.<method>"``."""
    return sorted(f"{abc.__name__}.{name}" for abc in contracts() for name in abstract(abc))


def abstract(abc: type) -> frozenset[str]:
    """The names of *abc*'s abstract members."""
    members: frozenset[str] = getattr(abc, "__abstractmethods__", frozenset())
    return members


def method_name(member: object) -> str:
    """``"<ABC>.<method>"`` of a contract's function or property."""
    function = member.fget if isinstance(member, property) else member
    name = getattr(function, "__qualname__", None)
    if not isinstance(name, str) or name.count(".") != 1:
        raise TypeError(f"not a contract method: {member!r}")
    return name


def covers(*members: object) -> Callable[[F], F]:
    """Mark a behaviour test as covering contract *members* (e.g. ``RecordStore.page``)."""
    names = [method_name(m) for m in members]
    unknown = set(names) - set(contract_methods())
    if unknown:
        raise TypeError(f"not abstract members of a contract: {sorted(unknown)}")

    def mark(test: F) -> F:
        BEHAVIOUR.update(names)
        return test

    return mark
