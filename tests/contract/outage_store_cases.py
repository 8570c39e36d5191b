"""The outage call of every method of ``Store`` and of the operator contracts it hands out
(``lifecycle``, ``keys``), addressed to EU while EU's server is down."""

from __future__ import annotations

import datetime as dt

from storage.base import Store, TenantStore
from storage.contract.keys import MasterKeys
from storage.contract.lifecycle import TenantLifecycle
from storage.values import OPERATOR
from tests.contract.data import unique_email
from tests.contract.outage import COUNTRY, Outage
from tests.contract.outage_case import Case, case

__all__ = ["STORE_CASES"]


def _lifecycle(o: Outage) -> TenantLifecycle:
    return o.store.lifecycle(settle=dt.timedelta(0))


async def _close_another(o: Outage) -> None:
    await o.reopen().aclose()


STORE_CASES: list[Case] = [
    case(
        Store.for_tenant,
        lambda o: o.store.for_tenant(o.tenant.id),
        no_io="a handle is routed by the region in the tenant id",
        check=lambda o, handle: isinstance(handle, TenantStore) and handle.tenant_id == o.tenant.id,
    ),
    case(
        Store.regions,
        lambda o: o.store.regions,
        no_io="the regions a store serves are its configuration",
        check=lambda o, regions: set(regions) == {"eu", "us"},
    ),
    case(
        Store.lifecycle,
        lambda o: o.store.lifecycle(),
        no_io="the operators' contract is built over the store's clients",
        check=lambda o, lifecycle: isinstance(lifecycle, TenantLifecycle),
    ),
    case(
        Store.keys,
        lambda o: o.store.keys,
        no_io="the operators' contract is built over the store's clients",
        check=lambda o, keys: isinstance(keys, MasterKeys),
    ),
    case(
        Store.aclose,
        _close_another,
        no_io="closing a connection waits for no answer",
    ),
    case(
        Store.create_tenant,
        lambda o: o.store.create_tenant("New", COUNTRY[o.region], unique_email()),
    ),
    case(Store.get_tenant, lambda o: o.store.get_tenant(o.tenant.id)),
    case(Store.list_tenants, lambda o: o.store.list_tenants(o.region), variant="its region"),
    case(Store.list_tenants, lambda o: o.store.list_tenants(), variant="every region"),
    case(Store.ping, lambda o: o.store.ping(o.region)),
    case(Store.pending_tenants, lambda o: o.store.pending_tenants(o.region, "reconcile")),
    case(Store.mark_pending, lambda o: o.store.mark_pending(o.tenant.id)),
    case(
        Store.clear_pending,
        lambda o: o.store.clear_pending(o.tenant.id, "seal", dt.datetime.now(dt.UTC)),
    ),
    case(TenantLifecycle.suspend, lambda o: _lifecycle(o).suspend(o.tenant.id, OPERATOR)),
    case(TenantLifecycle.resume, lambda o: _lifecycle(o).resume(o.tenant.id, OPERATOR)),
    case(TenantLifecycle.terminate, lambda o: _lifecycle(o).terminate(o.tenant.id, OPERATOR)),
    case(TenantLifecycle.restore, lambda o: _lifecycle(o).restore(o.tenant.id, OPERATOR)),
    case(
        TenantLifecycle.set_retention,
        lambda o: _lifecycle(o).set_retention(o.tenant.id, 30, OPERATOR),
    ),
    case(TenantLifecycle.history, lambda o: _lifecycle(o).history(o.tenant.id)),
    case(
        TenantLifecycle.purge,
        lambda o: _lifecycle(o).purge(o.tenant.id, OPERATOR, before_due=True),
    ),
    case(
        TenantLifecycle.purge_due,
        lambda o: _lifecycle(o).purge_due(OPERATOR),
        # Documented: a region that does not answer is an outcome, not an exception.
        check=lambda o, outcomes: any(
            (p.tenant_id, p.outcome) == (f"({o.region})", "REGION_UNAVAILABLE") for p in outcomes
        ),
    ),
    case(MasterKeys.providers, lambda o: o.store.keys.providers(o.region)),
    case(MasterKeys.rotate, lambda o: o.store.keys.rotate(o.region, "local")),
    case(MasterKeys.seal_documents, lambda o: o.store.keys.seal_documents(OPERATOR)),
]
