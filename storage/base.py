"""The storage contract: what resolvers, the gateway and the CLI may ask of a store.

Everything is scoped by tenant here, never in resolvers: ``store.for_tenant(tenant_id)``
returns a :class:`TenantStore` handle that knows the tenant's region, database and data
key, and holds one small contract per concern (:mod:`storage.contract`). A handle can only
ever reach its own tenant's database in its own region.

Values cross this boundary as plain Python (:mod:`storage.values`); encryption and the
stored representation are the store's business. Driver errors never cross it: every
method raises ``RegionUnavailableError`` when its region does not answer and
``EnclaveError`` for any other storage failure.

The store is chosen and built in one place, :func:`storage.open.open_store`.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cachetools import Cache

from regions.countries import RegionName
from storage.contract.access_log import AccessLogStore
from storage.contract.api_keys import ApiKeyStore
from storage.contract.audit import AuditStore
from storage.contract.blocks import BlockStore
from storage.contract.credentials import CredentialStore
from storage.contract.detection import DetectionStore
from storage.contract.documents import DocumentCipher
from storage.contract.erasure import SubjectErasure
from storage.contract.exports import ExportStore
from storage.contract.incidents import IncidentStore
from storage.contract.keys import MasterKeys
from storage.contract.lifecycle import TenantLifecycle
from storage.contract.operations import OperationStore
from storage.contract.records import RecordStore
from storage.contract.reports import ReportStore
from storage.contract.roles import RoleStore
from storage.contract.seals import SealStore
from storage.contract.sessions import SessionStore
from storage.contract.setup_codes import SetupCodeStore
from storage.contract.termination import Termination
from storage.contract.users import UserStore
from storage.values import TenantInfo, User

__all__ = ["Store", "TenantStore"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantStore:
    """One tenant's data, in its own database in its own region: one store per concern,
    each built once with the handle by :meth:`Store.for_tenant`. The stores of one handle
    share its state (the receipts of the audit entries written through it)."""

    tenant_id: str
    records: RecordStore
    exports: ExportStore
    audit: AuditStore
    seals: SealStore
    access_log: AccessLogStore
    users: UserStore
    roles: RoleStore
    api_keys: ApiKeyStore
    credentials: CredentialStore
    sessions: SessionStore
    setup_codes: SetupCodeStore
    incidents: IncidentStore
    blocks: BlockStore
    operations: OperationStore
    reports: ReportStore
    detection: DetectionStore
    documents: DocumentCipher
    erasure: SubjectErasure
    termination: Termination


class Store(ABC):
    """All tenants of all regions, and the operators' contracts over them."""

    @abstractmethod
    def for_tenant(self, tenant_id: str) -> TenantStore:
        """The handle for one tenant; routes by the region in its id (no database access).
        ``BadUserInputError`` for a malformed tenant id."""

    @abstractmethod
    async def create_tenant(
        self, name: str, country: str, admin_email: str
    ) -> tuple[TenantInfo, User]:
        """Provision a tenant in its country's region: control record, database, indexes,
        data key, and a first admin user (created by :data:`storage.values.OPERATOR`).
        ``BadUserInputError`` for a name outside 1 to 200 characters or an unknown
        country."""

    @abstractmethod
    async def get_tenant(self, tenant_id: str) -> TenantInfo | None:
        """A tenant's control record; None for an unknown tenant, or one whose control
        record was changed outside the gateway (every request for it is refused).
        ``BadUserInputError`` for a malformed tenant id."""

    @abstractmethod
    async def list_tenants(self, region: RegionName | None = None) -> list[TenantInfo]:
        """Every tenant of *region* (all regions when None), by id; [] for none. With no
        *region*, ``RegionUnavailableError`` if any region does not answer."""

    @property
    @abstractmethod
    def regions(self) -> tuple[RegionName, ...]:
        """The names of the regions this store serves."""

    @abstractmethod
    async def ping(self, region: RegionName) -> None:
        """Return if *region*'s cluster answers, else ``RegionUnavailableError``."""

    @abstractmethod
    def lifecycle(
        self,
        *,
        settle: dt.timedelta | None = None,
        forget: Callable[[str], Awaitable[None]] | None = None,
    ) -> TenantLifecycle:
        """Operators' state changes of tenants. A purge waits *settle* after the
        termination (default 10 s: gateways finish the tenant's requests in flight), and
        calls *forget* with the tenant id once its database is gone, to drop what else
        holds the tenant (best effort)."""

    @property
    @abstractmethod
    def keys(self) -> MasterKeys:
        """Master-key rotation and the MACs of documents from earlier versions."""

    def caches(self) -> Mapping[str, Cache[Any, Any]]:
        """The per-process caches of the store by name (a fixed set), for their sizes as
        metrics; none by default."""
        return {}

    @abstractmethod
    async def aclose(self) -> None:
        """Close every connection; the store is unusable after."""

    @abstractmethod
    async def pending_tenants(self, region: RegionName, work: str) -> list[str]:
        """The tenants of *region* marked as having background *work* (``"reconcile"``:
        audit intents to settle, ``"seal"``: entries to seal) to do, by id; [] for none.

        Every write marks its tenant durably, in its own region only, before it writes its
        audit intent, so a crash cannot leave an intent unmarked. A mark stays until
        :meth:`clear_pending` finds the work done. ``ValueError`` for an unknown *work*."""

    @abstractmethod
    async def mark_pending(self, tenant_id: str) -> None:
        """Mark *tenant_id* as having every kind of background work, as its writes do: for a
        full sweep to put back a mark it found missing."""

    @abstractmethod
    async def clear_pending(self, tenant_id: str, work: str, started: dt.datetime) -> int:
        """Drop the marks of *tenant_id* for *work* that work started at *started* has
        certainly seen the intents of (those of writes started more than the write lease
        before it; newer marks stay, so a concurrent write's mark is never dropped); returns
        how many were dropped. Call only when that work left nothing of its kind to do.
        ``ValueError`` for an unknown *work*."""
