"""What exists in the outage tests' tenants before their region's server is stopped: one of
everything the contracts address by id, so each call gets as far as the database."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from schema.roles import RoleDefinition
from storage.base import Store, TenantStore
from storage.contract.api_keys import parse_api_key
from storage.signing import SealKey
from storage.values import Actor, ExportJob, Record, TenantInfo, User
from tests.contract.data import SHEET, actor_of, digest, employee, export_job, unique_email

__all__ = ["Outage", "Prepared", "prepare_outage"]

TTL = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Prepared:
    eu: TenantInfo
    us: TenantInfo
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
    ciphertext: bytes
    seal_key: SealKey

    def on(self, store: Store, reopen: Callable[[], Store]) -> Outage:
        """The outage as *store* (opened while EU is down) sees it."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(Prepared)}
        return Outage(
            **fields,
            store=store,
            reopen=reopen,
            handle=store.for_tenant(self.eu.id),
            us_handle=store.for_tenant(self.us.id),
        )


@dataclass(frozen=True)
class Outage(Prepared):
    """EU's server is down: *handle* is the EU tenant's, *us_handle* the US tenant's;
    *reopen* opens another store over the same servers (to close one)."""

    store: Store
    reopen: Callable[[], Store]
    handle: TenantStore
    us_handle: TenantStore


async def prepare_outage(store: Store, seal_key: SealKey) -> Prepared:
    eu, admin = await store.create_tenant("Outage EU", "DE", unique_email("admin"))
    us, _ = await store.create_tenant("Outage US", "US", unique_email("admin"))
    tenant = store.for_tenant(eu.id)
    actor = actor_of(admin)
    record = await tenant.records.create(SHEET, employee(), actor)
    user = await tenant.users.create(unique_email(), ["admin"], actor)
    job = export_job(admin.id)
    await tenant.exports.create(job, actor)
    _, text = await tenant.api_keys.create("outage", "admin", False, actor)
    parsed = parse_api_key(text)
    assert parsed is not None
    sid, refresh = await tenant.sessions.open(user.id, TTL)
    code, _ = await tenant.setup_codes.issue(user.id, TTL, actor)
    await tenant.roles.put(RoleDefinition("clerk"), None, actor)
    report = await tenant.reports.put_definition(None, "outage", {"groupBy": []}, None, actor)
    await tenant.operations.register(digest("{ a }"), "{ a }", actor)
    await tenant.seals.seal(seal_key)
    return Prepared(
        eu=eu,
        us=us,
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
        ciphertext=await tenant.documents.encrypt({"answer": 42}),
        seal_key=seal_key,
    )
