"""The outage call of every method of every tenant store (the EU tenant's, EU down)."""

from __future__ import annotations

import datetime as dt

from schema.roles import RoleDefinition
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
from storage.contract.operations import OperationStore
from storage.contract.records import RecordStore
from storage.contract.reports import ReportStore
from storage.contract.roles import RoleStore
from storage.contract.seals import SealStore
from storage.contract.sessions import SessionStore
from storage.contract.setup_codes import SetupCodeStore
from storage.contract.termination import Termination
from storage.contract.users import UserStore
from storage.incidentvalues import (
    Compromised,
    ContainmentAction,
    DetectionThresholds,
    TenantContact,
)
from storage.values import AccessQuery, AuditQuery, ReportQuery
from tests.contract.data import (
    PASSWORD_HASH,
    SHEET,
    TOTP_SECRET,
    access_event,
    digest,
    drain,
    employee,
    export_job,
    unique_email,
)
from tests.contract.outage_case import Case, case

__all__ = ["TENANT_CASES"]

TTL = dt.timedelta(minutes=5)
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
FIELDS = ["lastName"]
GROUPS = ReportQuery(group_by=("department",), measures=(("COUNT", None),))

TENANT_CASES: list[Case] = [
    case(RecordStore.get, lambda o: o.handle.records.get(SHEET, o.record.id, FIELDS)),
    case(RecordStore.page, lambda o: o.handle.records.page(SHEET, FIELDS, first=5)),
    case(RecordStore.stream, lambda o: drain(o.handle.records.stream(SHEET, FIELDS))),
    case(RecordStore.count, lambda o: o.handle.records.count(SHEET)),
    case(RecordStore.create, lambda o: o.handle.records.create(SHEET, employee(), o.actor)),
    case(
        RecordStore.update,
        lambda o: o.handle.records.update(SHEET, o.record.id, 1, {"firstName": "X"}, o.actor),
    ),
    case(
        RecordStore.set_archived,
        lambda o: o.handle.records.set_archived(SHEET, o.record.id, 1, True, o.actor),
    ),
    case(RecordStore.delete, lambda o: o.handle.records.delete(SHEET, o.record.id, 1, o.actor)),
    case(ExportStore.create, lambda o: o.handle.exports.create(export_job(o.admin.id), o.actor)),
    case(ExportStore.get, lambda o: o.handle.exports.get(o.job.id)),
    case(ExportStore.claim, lambda o: o.handle.exports.claim(o.job.id, o.actor)),
    case(ExportStore.record_done, lambda o: o.handle.exports.record_done(o.job, o.actor, 1, True)),
    case(AuditStore.record_event, lambda o: o.handle.audit.record_event("probe", o.actor, {})),
    case(
        AuditStore.record_attempt,
        lambda o: o.handle.audit.record_attempt("updateEmployee", o.actor, "FORBIDDEN"),
    ),
    case(AuditStore.page, lambda o: o.handle.audit.page(AuditQuery(), first=5)),
    case(AuditStore.redact, lambda o: o.handle.audit.redact([o.record.id], o.actor)),
    case(AuditStore.reconcile, lambda o: o.handle.audit.reconcile(older_than=dt.timedelta(0))),
    case(AuditStore.pending_intents, lambda o: o.handle.audit.pending_intents()),
    case(SealStore.seal, lambda o: o.handle.seals.seal(o.seal_key)),
    case(SealStore.verify, lambda o: o.handle.seals.verify(o.seal_key)),
    case(SealStore.head, lambda o: o.handle.seals.head(o.seal_key)),
    case(
        SealStore.receipts,
        lambda o: o.handle.seals.receipts(o.seal_key),
        no_io="the receipts of the entries written through a handle are kept in the handle",
        check=lambda o, receipts: receipts == [],
    ),
    case(AccessLogStore.append, lambda o: o.handle.access_log.append([access_event(o.admin.id)])),
    case(AccessLogStore.page, lambda o: o.handle.access_log.page(AccessQuery(), first=5)),
    case(UserStore.create, lambda o: o.handle.users.create(unique_email(), [], o.actor)),
    case(UserStore.get, lambda o: o.handle.users.get(o.user.id)),
    case(UserStore.all, lambda o: o.handle.users.all()),
    case(
        UserStore.update,
        lambda o: o.handle.users.update(o.user.id, 1, o.actor, can_export=True),
    ),
    case(RoleStore.all, lambda o: o.handle.roles.all()),
    case(RoleStore.put, lambda o: o.handle.roles.put(RoleDefinition("auditor"), None, o.actor)),
    case(RoleStore.delete, lambda o: o.handle.roles.delete("clerk", 1, o.actor)),
    case(RoleStore.versions, lambda o: o.handle.roles.versions("clerk")),
    case(RoleStore.policy_version, lambda o: o.handle.roles.policy_version()),
    case(ApiKeyStore.create, lambda o: o.handle.api_keys.create("k", "admin", False, o.actor)),
    case(ApiKeyStore.all, lambda o: o.handle.api_keys.all()),
    case(ApiKeyStore.revoke, lambda o: o.handle.api_keys.revoke(o.key_id, o.actor)),
    case(ApiKeyStore.check, lambda o: o.handle.api_keys.check(o.key_id, o.key_secret)),
    case(ApiKeyStore.touch, lambda o: o.handle.api_keys.touch(o.key_id, NOW)),
    case(CredentialStore.by_email, lambda o: o.handle.credentials.by_email(o.user.email)),
    case(CredentialStore.by_id, lambda o: o.handle.credentials.by_id(o.user.id)),
    case(
        CredentialStore.set_password_hash,
        lambda o: o.handle.credentials.set_password_hash(o.user.id, PASSWORD_HASH, o.actor),
    ),
    case(
        CredentialStore.set_totp_pending,
        lambda o: o.handle.credentials.set_totp_pending(o.user.id, TOTP_SECRET, o.actor),
    ),
    case(
        CredentialStore.activate_totp,
        lambda o: o.handle.credentials.activate_totp(o.user.id, o.actor),
    ),
    case(
        CredentialStore.claim_totp_step,
        lambda o: o.handle.credentials.claim_totp_step(o.user.id, 1),
    ),
    case(
        CredentialStore.reserve_attempt,
        lambda o: o.handle.credentials.reserve_attempt(o.user.id, o.user.email, 5, TTL),
    ),
    case(CredentialStore.clear_attempts, lambda o: o.handle.credentials.clear_attempts(o.user.id)),
    case(CredentialStore.two_factor_required, lambda o: o.handle.credentials.two_factor_required()),
    case(
        CredentialStore.require_two_factor,
        lambda o: o.handle.credentials.require_two_factor(True, o.actor),
    ),
    case(CredentialStore.prune, lambda o: o.handle.credentials.prune()),
    case(DetectionStore.thresholds, lambda o: o.handle.detection.thresholds()),
    case(
        DetectionStore.set_thresholds,
        lambda o: o.handle.detection.set_thresholds(DetectionThresholds(), o.actor),
    ),
    case(
        DetectionStore.failed_signin_accounts,
        lambda o: o.handle.detection.failed_signin_accounts(dt.datetime.now(dt.UTC), limit=10),
    ),
    case(SessionStore.open, lambda o: o.handle.sessions.open(o.user.id, TTL)),
    case(SessionStore.rotate, lambda o: o.handle.sessions.rotate(o.sid, o.refresh, TTL)),
    case(SessionStore.active, lambda o: o.handle.sessions.active(o.sid, o.user.id, None)),
    case(SessionStore.close, lambda o: o.handle.sessions.close(o.sid)),
    case(SessionStore.close_all, lambda o: o.handle.sessions.close_all(o.user.id)),
    case(SessionStore.of_user, lambda o: o.handle.sessions.of_user(o.user.id)),
    case(SessionStore.prune, lambda o: o.handle.sessions.prune()),
    case(
        IncidentStore.open,
        lambda o: o.handle.incidents.open(
            [Compromised("user", o.user.id)], NOW, None, o.actor, origin="admin"
        ),
    ),
    case(
        IncidentStore.open_suspected,
        lambda o: o.handle.incidents.open_suspected(
            "volume", [Compromised("api_key", o.key_id)], NOW, NOW, "reads"
        ),
    ),
    case(IncidentStore.get, lambda o: o.handle.incidents.get(o.incident_id)),
    case(IncidentStore.page, lambda o: o.handle.incidents.page(None, first=5)),
    case(
        IncidentStore.change_state,
        lambda o: o.handle.incidents.change_state(o.incident_id, "reported", 1, o.actor),
    ),
    case(
        IncidentStore.add_containment,
        lambda o: o.handle.incidents.add_containment(
            o.incident_id, [ContainmentAction(NOW, "end_sessions", "user:x", "0")], o.actor
        ),
    ),
    case(
        IncidentStore.add_report,
        lambda o: o.handle.incidents.add_report(o.incident_id, {"nature": "x"}, None, o.actor),
    ),
    case(IncidentStore.contact, lambda o: o.handle.incidents.contact()),
    case(BlockStore.block, lambda o: o.handle.blocks.block(["user:x"], NOW, "i", o.actor)),
    case(BlockStore.all, lambda o: o.handle.blocks.all()),
    case(
        IncidentStore.set_contact,
        lambda o: o.handle.incidents.set_contact(TenantContact("DPO", "dpo@example.com"), o.actor),
    ),
    case(
        ExportStore.revoke_unused,
        lambda o: o.handle.exports.revoke_unused([o.admin.id], [o.job.id], o.actor),
    ),
    case(
        CredentialStore.clear_password,
        lambda o: o.handle.credentials.clear_password(o.user.id, o.actor),
    ),
    case(SetupCodeStore.issue, lambda o: o.handle.setup_codes.issue(o.user.id, TTL, o.actor)),
    case(
        SetupCodeStore.redeem,
        lambda o: o.handle.setup_codes.redeem(o.user.id, o.setup_code, o.actor),
    ),
    case(SetupCodeStore.pending, lambda o: o.handle.setup_codes.pending(o.user.id)),
    case(OperationStore.document, lambda o: o.handle.operations.document(digest("{ a }"))),
    case(
        OperationStore.register,
        lambda o: o.handle.operations.register(digest("{ b }"), "{ b }", o.actor),
    ),
    case(OperationStore.allow_list, lambda o: o.handle.operations.allow_list()),
    case(
        OperationStore.set_allow_list,
        lambda o: o.handle.operations.set_allow_list(True, o.actor),
    ),
    case(ReportStore.aggregate, lambda o: o.handle.reports.aggregate(SHEET, GROUPS)),
    case(ReportStore.minimum_group_size, lambda o: o.handle.reports.minimum_group_size()),
    case(
        ReportStore.set_minimum_group_size,
        lambda o: o.handle.reports.set_minimum_group_size(7, o.actor),
    ),
    case(ReportStore.list_definitions, lambda o: o.handle.reports.list_definitions()),
    case(ReportStore.get_definition, lambda o: o.handle.reports.get_definition(o.report_id)),
    case(
        ReportStore.put_definition,
        lambda o: o.handle.reports.put_definition(o.report_id, "n", {}, 1, o.actor),
    ),
    case(
        ReportStore.delete_definition,
        lambda o: o.handle.reports.delete_definition(o.report_id, 1, o.actor),
    ),
    case(DocumentCipher.encrypt, lambda o: o.handle.documents.encrypt({"answer": 42})),
    case(DocumentCipher.decrypt, lambda o: o.handle.documents.decrypt(o.ciphertext)),
    case(SubjectErasure.erase, lambda o: o.handle.erasure.erase(o.user.email, o.actor)),
    case(Termination.request, lambda o: o.handle.termination.request(o.actor)),
]
