"""IncidentStore: breach incidents, their state machine, containment log, authority report
versions, and the tenant's contact point."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import pytest
from ulid import ULID

from schema.errors import BadUserInputError, ConflictError, NotFoundError
from storage.contract.credentials import CredentialStore
from storage.contract.exports import ExportStore
from storage.contract.incidents import IncidentStore
from storage.incidentvalues import Compromised, ContainmentAction, TenantContact
from storage.values import AuditQuery
from tests.contract.contracts import covers
from tests.contract.data import PASSWORD_HASH, entries, export_job, unique_email
from tests.contract.tamper import Tamper
from tests.contract.tenants import Tenant

HOUR = dt.timedelta(hours=1)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@covers(IncidentStore.open, IncidentStore.get, IncidentStore.page)
async def test_open_get_page(tenant: Tenant) -> None:
    incidents = tenant.handle.incidents
    assert await incidents.get(str(ULID())) is None
    assert await incidents.page(None, first=10) == ([], False)
    user = Compromised("user", tenant.admin.id)
    before = await entries(tenant.handle)
    start = _now() - 5 * HOUR
    made = await incidents.open([user], start, None, tenant.actor, origin="admin", nature="leak")
    assert await entries(tenant.handle) == before + 1
    assert (made.state, made.version, made.origin, made.nature) == ("confirmed", 1, "admin", "leak")
    assert made.deadline == made.detected_at + 72 * HOUR
    assert [(h.from_state, h.to_state) for h in made.history] == [(None, "confirmed")]
    assert await incidents.get(made.id) == made
    second = await incidents.open(
        [Compromised("platform")], start, _now(), tenant.actor, origin="operator",
        state="suspected",
    )  # fmt: skip
    assert [i.id for i in (await incidents.page(None, first=10))[0]] == [second.id, made.id]
    page, more = await incidents.page(None, first=1)
    assert [i.id for i in page] == [second.id] and more
    assert [i.id for i in (await incidents.page(None, first=5, after=second.id))[0]] == [made.id]
    assert [i.id for i in (await incidents.page("suspected", first=5))[0]] == [second.id]
    with pytest.raises(BadUserInputError):
        await incidents.open([], start, None, tenant.actor, origin="admin")
    with pytest.raises(BadUserInputError):
        await incidents.open([user], start, start - HOUR, tenant.actor, origin="admin")
    with pytest.raises(BadUserInputError):
        await incidents.open([user], start, None, tenant.actor, origin="admin", state="closed")


@covers(IncidentStore.open_suspected)
async def test_a_rule_opens_one_incident_per_principal_while_open(tenant: Tenant) -> None:
    incidents = tenant.handle.incidents
    key = [Compromised("api_key", str(ULID()))]
    since = _now() - HOUR
    opened = await asyncio.gather(
        *(incidents.open_suspected("volume", key, since, _now(), "reads") for _ in range(6))
    )
    ids = [i for i in opened if i is not None]
    assert len(ids) == 1
    found = await incidents.get(ids[0])
    assert found is not None
    assert (found.state, found.origin, found.rule, found.nature) == (
        "suspected", "detection", "volume", "reads",
    )  # fmt: skip
    assert found.history[0].actor_id == "detection"
    # Another rule, or another principal, is another incident.
    assert await incidents.open_suspected("probing", key, since, _now(), "x") is not None
    other = [Compromised("api_key", str(ULID()))]
    assert await incidents.open_suspected("volume", other, since, _now(), "x") is not None
    assert await incidents.open_suspected("volume", key, since, _now(), "again") is None
    await incidents.change_state(ids[0], "dismissed", 1, tenant.actor)
    again = await incidents.open_suspected("volume", key, since, _now(), "again")
    assert again is not None and again != ids[0]


@covers(IncidentStore.change_state)
async def test_state_machine(tenant: Tenant) -> None:
    incidents = tenant.handle.incidents
    made = await incidents.open(
        [Compromised("user", tenant.admin.id)], _now(), None, tenant.actor, origin="admin",
        state="suspected",
    )  # fmt: skip
    with pytest.raises(NotFoundError):
        await incidents.change_state(str(ULID()), "confirmed", 1, tenant.actor)
    with pytest.raises(BadUserInputError) as bad:
        await incidents.change_state(made.id, "reported", 1, tenant.actor)
    assert bad.value.extensions.get("field") == "state"
    confirmed = await incidents.change_state(made.id, "confirmed", 1, tenant.actor, "seen")
    assert (confirmed.state, confirmed.version) == ("confirmed", 2)
    assert confirmed.history[-1].note == "seen"
    with pytest.raises(ConflictError):
        await incidents.change_state(made.id, "dismissed", 1, tenant.actor)
    results = await asyncio.gather(
        *(incidents.change_state(made.id, "reported", 2, tenant.actor) for _ in range(4)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, ConflictError) for r in results if isinstance(r, Exception))
    closed = await incidents.change_state(made.id, "closed", 3, tenant.actor)
    assert [h.to_state for h in closed.history] == ["suspected", "confirmed", "reported", "closed"]
    assert await incidents.get(made.id) == closed
    with pytest.raises(BadUserInputError):
        await incidents.change_state(made.id, "confirmed", 4, tenant.actor)


@covers(IncidentStore.add_containment, IncidentStore.add_report)
async def test_containment_and_report_versions(tenant: Tenant) -> None:
    incidents = tenant.handle.incidents
    user = [Compromised("user", tenant.admin.id)]
    made = await incidents.open(user, _now() - HOUR, None, tenant.actor, origin="admin")
    with pytest.raises(NotFoundError):
        await incidents.add_containment(str(ULID()), [], tenant.actor)
    step = ContainmentAction(_now().replace(microsecond=0), "end_sessions", "user:x", "2 ended")
    contained = await incidents.add_containment(made.id, [step], tenant.actor)
    assert contained.containment == (step,) and contained.version == 2
    first = await incidents.add_report(made.id, {"nature": "phase 1"}, None, tenant.actor)
    assert first.state == "reported" and first.history[-1].to_state == "reported"
    assert [(r.version, r.late, dict(r.document)) for r in first.reports] == [
        (1, False, {"nature": "phase 1"})
    ]
    second = await incidents.add_report(made.id, {"nature": "phase 2"}, None, tenant.actor)
    assert [r.version for r in second.reports] == [1, 2] and second.state == "reported"
    # Detected more than 72 hours ago: a report needs the reason for the delay.
    old = await incidents.open(
        user, _now() - 80 * HOUR, None, tenant.actor, origin="admin",
        detected_at=_now() - 73 * HOUR,
    )  # fmt: skip
    with pytest.raises(BadUserInputError) as late:
        await incidents.add_report(old.id, {"nature": "late"}, "  ", tenant.actor)
    assert late.value.extensions.get("field") == "delayReason"
    filed = await incidents.add_report(old.id, {"nature": "late"}, "forensics", tenant.actor)
    assert filed.reports[0].late and filed.reports[0].delay_reason == "forensics"
    suspected = await incidents.open(
        user, _now(), None, tenant.actor, origin="admin", state="suspected"
    )
    with pytest.raises(BadUserInputError):
        await incidents.add_report(suspected.id, {}, None, tenant.actor)
    assert (await incidents.get(suspected.id)) == suspected


@covers(IncidentStore.contact, IncidentStore.set_contact)
async def test_contact_point(tenant: Tenant) -> None:
    incidents = tenant.handle.incidents
    assert await incidents.contact() is None
    dpo = TenantContact("Data Protection Officer", "dpo@example.com", "+49 30 1234")
    assert await incidents.set_contact(dpo, tenant.actor) == dpo
    assert await incidents.contact() == dpo
    other = TenantContact("Privacy team", "privacy@example.com")
    await incidents.set_contact(other, tenant.actor)
    assert await incidents.contact() == other
    with pytest.raises(BadUserInputError):
        await incidents.set_contact(TenantContact(" ", "x@example.com"), tenant.actor)
    with pytest.raises(BadUserInputError):
        await incidents.set_contact(TenantContact("A", "not-an-email"), tenant.actor)
    changes, _ = await tenant.handle.audit.page(AuditQuery(datasheet="tenant_contact"), first=9)
    assert len(changes) == 2


@covers(IncidentStore.get, IncidentStore.page, IncidentStore.contact)
async def test_changed_incidents_are_absent(tenant: Tenant, tamper: Tamper) -> None:
    incidents = tenant.handle.incidents
    made = await incidents.open(
        [Compromised("platform")], _now(), None, tenant.actor, origin="operator"
    )
    await incidents.set_contact(TenantContact("DPO", "dpo@example.com"), tenant.actor)
    await tamper.document(tenant.info.id, "incidents", made.id)
    await tamper.document(tenant.info.id, "tenant_contact", "tenant_contact")
    assert await incidents.get(made.id) is None
    assert await incidents.page(None, first=5) == ([], False)
    assert await incidents.contact() is None
    with pytest.raises(NotFoundError):
        await incidents.change_state(made.id, "closed", 2, tenant.actor)


@covers(ExportStore.revoke_unused, ExportStore.claim)
async def test_revoking_unused_export_links(tenant: Tenant) -> None:
    exports = tenant.handle.exports
    mine, used = export_job(tenant.admin.id), export_job(tenant.admin.id)
    other, listed = export_job("someone-else"), export_job("another-one")
    for job in (mine, other, used, listed):
        await exports.create(job, tenant.actor)
    assert await exports.claim(used.id, tenant.actor)
    before = await entries(tenant.handle)
    revoked = await exports.revoke_unused([tenant.admin.id], [listed.id, str(ULID())], tenant.actor)
    assert revoked == sorted([mine.id, listed.id])
    assert await entries(tenant.handle) == before + 2
    assert not await exports.claim(mine.id, tenant.actor)
    assert not await exports.claim(listed.id, tenant.actor)
    assert await exports.claim(other.id, tenant.actor)  # not named: still works
    assert await exports.revoke_unused([tenant.admin.id], [], tenant.actor) == []
    # By the sign-in session a job was started in (the user is not named).
    in_session = dataclasses.replace(export_job("a-user"), session="stolen")
    elsewhere = dataclasses.replace(export_job("a-user"), session="kept")
    for job in (in_session, elsewhere):
        await exports.create(job, tenant.actor)
    assert await exports.revoke_unused([], [], tenant.actor, sessions=["stolen"]) == [in_session.id]
    assert not await exports.claim(in_session.id, tenant.actor)
    assert await exports.claim(elsewhere.id, tenant.actor)


@covers(CredentialStore.clear_password)
async def test_clearing_a_password(tenant: Tenant) -> None:
    creds = tenant.handle.credentials
    with pytest.raises(NotFoundError):
        await creds.clear_password(str(ULID()), tenant.actor)
    user = await tenant.handle.users.create(unique_email(), [], tenant.actor)
    await creds.set_password_hash(user.id, PASSWORD_HASH, tenant.actor)
    before = await entries(tenant.handle)
    await creds.clear_password(user.id, tenant.actor)
    assert await entries(tenant.handle) == before + 1
    found = await creds.by_id(user.id)
    assert found is not None and found.password_hash is None  # still a valid user
    assert await tenant.handle.users.get(user.id) is not None


@covers(IncidentStore.open_suspected)
async def test_a_claim_forged_in_the_database_does_not_silence_detection(
    tenant: Tenant, tamper: Tamper
) -> None:
    """A database insider cannot keep a rule from opening an incident by a claim of their
    own: one naming an unrelated open incident, or none while taken in the future."""
    incidents = tenant.handle.incidents
    since = _now() - HOUR
    unrelated = await incidents.open_suspected(
        "probing", [Compromised("api_key", str(ULID()))], since, _now(), "x"
    )
    assert unrelated is not None
    key = [Compromised("api_key", str(ULID()))]
    await tamper.incident_claim(tenant.info.id, "reads", key, unrelated, _now())
    assert await incidents.open_suspected("reads", key, since, _now(), "reads") is not None
    other = [Compromised("user", str(ULID()))]
    await tamper.incident_claim(tenant.info.id, "reads", other, None, _now() + 1000 * HOUR)
    assert await incidents.open_suspected("reads", other, since, _now(), "reads") is not None
