"""Every method of every storage contract has an outage case and a behaviour test: a method
added to a contract without contract tests fails here, named."""

from __future__ import annotations

import importlib
import pkgutil

import tests.contract
from storage.base import TenantStore
from tests.contract.contracts import (
    BEHAVIOUR,
    abstract,
    contract_methods,
    contracts,
    tenant_contracts,
)
from tests.contract.outage_store_cases import STORE_CASES
from tests.contract.outage_tenant_cases import TENANT_CASES

#: The modules whose tests are not about one method's behaviour.
NOT_BEHAVIOUR = {"test_outage", "test_completeness"}


def behaviour_covered() -> set[str]:
    """What the behaviour modules' ``@covers`` name (importing each registers its tests)."""
    for module in pkgutil.iter_modules(tests.contract.__path__):
        if module.name.startswith("test_") and module.name not in NOT_BEHAVIOUR:
            importlib.import_module(f"tests.contract.{module.name}")
    return set(BEHAVIOUR)


def test_the_contract_is_listed_from_the_handle() -> None:
    handle = tenant_contracts()
    assert "records" in handle and "tenant_id" not in handle
    assert set(handle) | {"tenant_id"} == set(TenantStore.__dataclass_fields__)
    empty = [abc.__name__ for abc in contracts() if not abstract(abc)]
    assert not empty, f"not contracts (no abstract method): {empty}"


def test_every_method_has_an_outage_case() -> None:
    cased = {case.method for case in [*TENANT_CASES, *STORE_CASES]}
    missing = sorted(set(contract_methods()) - cased)
    assert not missing, f"no outage case (tests/contract/outage_*_cases.py) for: {missing}"


def test_every_method_has_a_behaviour_test() -> None:
    missing = sorted(set(contract_methods()) - behaviour_covered())
    assert not missing, f"no behaviour test (@covers) for: {missing}"


def test_every_outage_case_is_of_a_contract_method() -> None:
    ids = [case.id for case in [*TENANT_CASES, *STORE_CASES]]
    assert len(ids) == len(set(ids))
    stale = sorted(
        {case.method for case in [*TENANT_CASES, *STORE_CASES]} - set(contract_methods())
    )
    assert not stale, f"outage cases of methods no contract has: {stale}"
