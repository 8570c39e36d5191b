"""What exists in the outage tests' tenants before their region's server is stopped: one of
everything the contracts address by id, so each call gets as far as the database."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from regions.countries import RegionName
from schema.roles import RoleDefinition
from storage.base import Store, TenantStore
from storage.contract.api_keys import parse_api_key
from storage.signing import SealKey
from storage.values import Actor, Compromised, ExportJob, Record, TenantInfo, User
from tests.contract.data import SHEET, actor_of, digest, employee, export_job, unique_email

__all__ = ["COUNTRY", "Outage", "Prepared", "prepare"]

TTL = dt.timedelta(minutes=5)
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
#: A country of each region.
COUNTRY: dict[RegionName, str] = {"eu": "DE", "us": "US"}


@dataclass(frozen=True)
class Prepared:
    """One tenant with one of everything, and its admin."""

    tenant: TenantInfo
    admin: User
    actor: Actor
    user: User
    record: Record
    job: ExportJob
    key_id: str
    key_secret: str
    sid: str
    refresh: str
    setup_code: str
    report_id: str
    incident_id: str
    ciphertext: bytes
    seal_key: SealKey

    def on(self, store: Store, reopen: Callable[[], Store], other: TenantInfo) -> Outage:
        """The outage of this tenant's region as *store* (opened while its server is down)
        sees it; *other* is a tenant of the other region."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(Prepared)}
        return Outage(
            **fields,
            store=store,
            reopen=reopen,
            handle=store.for_tenant(self.tenant.id),
            other=other,
            other_handle=store.for_tenant(other.id),
        )


@dataclass(frozen=True)
class Outage(Prepared):
    """The server of *region* is down: *handle* is the tenant's there, *other_handle* a
    tenant's of the other region; *reopen* opens another store over the same servers."""

    store: Store
    reopen: Callable[[], Store]
    handle: TenantStore
    other: TenantInfo
    other_handle: TenantStore

    @property
    def region(self) -> RegionName:
        return self.tenant.region


async def prepare(store: Store, region: RegionName, seal_key: SealKey) -> Prepared:
    tenant, admin = await store.create_tenant("Outage", COUNTRY[region], unique_email("admin"))
    handle = store.for_tenant(tenant.id)
    actor = actor_of(admin)
    record = await handle.records.create(SHEET, employee(), actor)
    user = await handle.users.create(unique_email(), ["admin"], actor)
    job = export_job(admin.id)
    await handle.exports.create(job, actor)
    _, text = await handle.api_keys.create("outage", "admin", False, actor)
    parsed = parse_api_key(text)
    assert parsed is not None
    sid, refresh = await handle.sessions.open(user.id, TTL)
    code, _ = await handle.setup_codes.issue(user.id, TTL, actor)
    await handle.roles.put(RoleDefinition("clerk"), None, actor)
    report = await handle.reports.put_definition(None, "outage", {"groupBy": []}, None, actor)
    await handle.operations.register(digest("{ a }"), "{ a }", actor)
    incident = await handle.incidents.open(
        [Compromised("user", user.id)], NOW, None, actor, origin="admin"
    )
    await handle.seals.seal(seal_key)
    return Prepared(
        tenant=tenant,
        admin=admin,
        actor=actor,
        user=user,
        record=record,
        job=job,
        key_id=parsed[1],
        key_secret=parsed[2],
        sid=sid,
        refresh=refresh,
        setup_code=code,
        report_id=report.id,
        incident_id=incident.id,
        ciphertext=await handle.documents.encrypt({"answer": 42}),
        seal_key=seal_key,
    )
