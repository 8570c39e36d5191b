"""The storage contract: what resolvers and the CLI may ask of a store.

Everything is scoped by tenant here, never in resolvers: ``store.for_tenant(tenant_id)``
returns a handle that knows the tenant's region, database and data key. A handle can
only ever reach its own tenant's database in its own region.

Values cross this boundary as plain Python (``str``, ``int``, ``datetime.date``) keyed by
the datasheet's field names; encryption and the stored representation are the store's
business.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from regions.countries import RegionName
from schema.datasheets import Datasheet
from schema.roles import RoleDefinition
from storage.auditmac import SignedHead
from storage.signing import SealKey
from storage.values import (
    DEFAULT_RETENTION_DAYS,
    AccessEvent,
    AccessQuery,
    Actor,
    ApiKey,
    AuditEntry,
    AuditQuery,
    Credentials,
    ErasureReport,
    ExportJob,
    Page,
    Record,
    ReportGroup,
    ReportQuery,
    Role,
    RoleVersion,
    RowScope,
    SavedReport,
    TenantInfo,
    TenantStatus,
    User,
    Value,
    VerifyReport,
)

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "AccessEvent",
    "AccessQuery",
    "Actor",
    "ApiKey",
    "AuditEntry",
    "AuditQuery",
    "CredentialStore",
    "Credentials",
    "ErasureReport",
    "ExportJob",
    "OperationStore",
    "Page",
    "Record",
    "ReportGroup",
    "ReportQuery",
    "ReportStore",
    "Role",
    "RoleVersion",
    "RowScope",
    "SavedReport",
    "Store",
    "TenantInfo",
    "TenantStatus",
    "TenantStore",
    "User",
    "Value",
    "VerifyReport",
]


class CredentialStore(ABC):
    """Passwords, second factors and sessions of one tenant's users."""

    @abstractmethod
    async def by_email(self, email: str) -> Credentials | None: ...

    @abstractmethod
    async def by_id(self, user_id: str) -> Credentials | None: ...

    @abstractmethod
    async def set_password_hash(self, user_id: str, password_hash: str, actor: Actor) -> None:
        """Store an argon2id hash; audited."""

    @abstractmethod
    async def set_totp_pending(self, user_id: str, secret: str, actor: Actor) -> None:
        """Store (encrypted) a TOTP secret being enrolled, beside any active one; audited."""

    @abstractmethod
    async def activate_totp(self, user_id: str, actor: Actor) -> None:
        """Make the pending TOTP secret the active one; audited."""

    @abstractmethod
    async def close_sessions(self, user_id: str, keep: str | None = None) -> None:
        """End every session of a user (but *keep*)."""

    @abstractmethod
    async def reserve_attempt(
        self, user_id: str | None, email: str, slots: int, window: dt.timedelta
    ) -> bool:
        """Take one of the *slots* attempt slots of an account (a known user by id, an
        unknown *email* by a keyed digest of it) before its password or code is checked;
        False if all are taken by attempts younger than *window* (locked out). A slot is
        taken by an insert under a unique ``_id``, so of concurrent attempts at most *slots*
        get one, and the database work is the same for known, unknown and locked accounts."""

    @abstractmethod
    async def clear_attempts(self, user_id: str) -> None:
        """Free every attempt slot of *user_id* (after a success)."""

    @abstractmethod
    async def prune(self) -> int:
        """Drop sign-in bookkeeping (attempts, used codes, expired sessions and their
        claims) past any use; how many documents went."""

    @abstractmethod
    async def claim_totp_step(self, user_id: str, step: int) -> bool:
        """True once per TOTP time step of *user_id* (atomic under concurrency): a code is
        accepted at most once."""

    @abstractmethod
    async def open_session(
        self, user_id: str, ttl: dt.timedelta, scope: str | None = None
    ) -> tuple[str, str]:
        """A new session of *user_id* with *scope*: (session id, refresh secret)."""

    @abstractmethod
    async def rotate_session(
        self, sid: str, secret: str, ttl: dt.timedelta
    ) -> tuple[str, str, str | None] | None:
        """(user id, new refresh secret, session scope) if *secret* is the session's current
        one and no other use of it got there first: of concurrent uses at most one
        succeeds, and a secret used twice ends the session."""

    @abstractmethod
    async def session_active(self, sid: str, user_id: str, scope: str | None) -> bool:
        """Whether *sid* is a live session of *user_id* in this tenant that allows *scope*
        (a session opened with a scope authenticates only tokens with that scope)."""

    @abstractmethod
    async def close_session(self, sid: str) -> None: ...

    @abstractmethod
    async def two_factor_required(self) -> bool: ...

    @abstractmethod
    async def issue_setup_code(
        self, user_id: str, ttl: dt.timedelta, actor: Actor
    ) -> tuple[str, dt.datetime]:
        """A one-time code with which *user_id* sets a password, and its expiry; stored
        hashed, replaces the user's earlier codes; audited."""

    @abstractmethod
    async def redeem_setup_code(self, user_id: str, code: str, actor: Actor) -> bool:
        """True exactly once for a valid, unexpired code of *user_id* (atomic under
        concurrency); audited when it is used."""

    @abstractmethod
    async def setup_code_pending(self, user_id: str) -> bool:
        """Whether *user_id* has an unused code on file (expired or not)."""

    @abstractmethod
    async def require_two_factor(self, required: bool, actor: Actor) -> None:
        """The tenant's admins require two-factor sign-in; audited."""


class OperationStore(ABC):
    """A tenant's registered (persisted) GraphQL documents, by SHA-256 of their text, and
    whether the tenant runs only those (allow-list mode). No personal data."""

    @abstractmethod
    async def document(self, digest: str) -> str | None:
        """The registered document with this hex SHA-256, if any."""

    @abstractmethod
    async def register(self, digest: str, document: str, actor: Actor) -> bool:
        """Register *document* (its SHA-256 checked by the caller); audited. False if it
        was registered already."""

    @abstractmethod
    async def allow_list(self) -> bool: ...

    @abstractmethod
    async def set_allow_list(self, enabled: bool, actor: Actor) -> None:
        """Turn allow-list mode on or off; audited."""


class ReportStore(ABC):
    """Aggregates over one tenant's records, saved report definitions and the tenant's
    minimum group size (k). Changes are audited."""

    @abstractmethod
    async def aggregate(self, sheet: Datasheet, query: ReportQuery) -> list[ReportGroup]:
        """The groups of *query*, unsuppressed; grouped in the database where the fields
        allow, otherwise streamed in bounded memory."""

    @abstractmethod
    async def minimum_group_size(self) -> int: ...

    @abstractmethod
    async def set_minimum_group_size(self, k: int, actor: Actor) -> None:
        """Set k; audited."""

    @abstractmethod
    async def list_definitions(self) -> list[SavedReport]: ...

    @abstractmethod
    async def get_definition(self, report_id: str) -> SavedReport | None: ...

    @abstractmethod
    async def put_definition(
        self,
        report_id: str | None,
        name: str,
        definition: Mapping[str, Any],
        expected_version: int | None,
        actor: Actor,
    ) -> SavedReport:
        """Create (*report_id* None) or update (at *expected_version*, else ``CONFLICT``)."""

    @abstractmethod
    async def delete_definition(
        self, report_id: str, expected_version: int, actor: Actor
    ) -> SavedReport: ...


class TenantStore(ABC):
    """One tenant's data, in its own database in its own region."""

    tenant_id: str

    @property
    @abstractmethod
    def credentials(self) -> CredentialStore:
        """Passwords, second factors and sessions."""

    @property
    @abstractmethod
    def operations(self) -> OperationStore:
        """Registered GraphQL documents and the allow-list mode."""

    @property
    @abstractmethod
    def reports(self) -> ReportStore:
        """Aggregates, saved report definitions, the minimum group size."""

    @abstractmethod
    async def get(
        self,
        sheet: Datasheet,
        record_id: str,
        fields: Sequence[str],
        *,
        scope: RowScope | None = None,
    ) -> Record | None:
        """The record with *record_id* within *scope*, with only *fields* fetched and
        decrypted."""

    @abstractmethod
    async def page(
        self,
        sheet: Datasheet,
        fields: Sequence[str],
        *,
        first: int,
        after: str | None = None,
        equals: Mapping[str, Value] | None = None,
        include_archived: bool = False,
        scope: RowScope | None = None,
    ) -> Page:
        """Up to *first* records after the cursor *after*, in a stable order (keyset paging),
        within *scope*."""

    @abstractmethod
    def stream(
        self,
        sheet: Datasheet,
        fields: Sequence[str],
        *,
        after: str | None = None,
        equals: Mapping[str, Value] | None = None,
        include_archived: bool = False,
        scope: RowScope | None = None,
        batch_size: int = 500,
        read_deadline: float | None = None,
    ) -> AsyncIterator[Record]:
        """Every record within *scope* (and *equals*) after the record id *after*, in id
        order, fetched *batch_size* at a time: memory stays bounded however many there are.

        *read_deadline*: one deadline, in seconds, for the whole stream instead of the per-reply
        socket timeout. A server that sorts in memory (FerretDB) sends the first batch only
        after reading every matching record, which can take longer than one reply may."""

    @abstractmethod
    async def count(
        self,
        sheet: Datasheet,
        *,
        after: str | None = None,
        equals: Mapping[str, Value] | None = None,
        include_archived: bool = False,
        scope: RowScope | None = None,
        read_deadline: float | None = None,
    ) -> int:
        """How many records :meth:`stream` would give (nothing is decrypted)."""

    @abstractmethod
    async def create_export(self, job: ExportJob, actor: Actor) -> None:
        """Store an export job; audited (who, what, the filter encrypted)."""

    @abstractmethod
    async def get_export(self, job_id: str) -> ExportJob | None:
        """An export job by id."""

    @abstractmethod
    async def claim_export(self, job_id: str, actor: Actor) -> bool:
        """Take the job's one download, atomically on every server (an insert under a unique
        key): True for the first caller only. The download is audited."""

    @abstractmethod
    async def record_export_done(
        self, job: ExportJob, actor: Actor, rows: int, complete: bool
    ) -> None:
        """Audit how many rows a download sent and whether it ran to the end."""

    @abstractmethod
    async def record_event(
        self,
        op: str,
        actor: Actor,
        detail: Mapping[str, Any],
        values: Mapping[str, Any] | None = None,
    ) -> int:
        """Audit an action that changes no record (an export, a lifecycle change, an
        erasure); *detail* holds ids, counts and names, never personal data; *values*
        (personal data, such as an export's filter) are kept encrypted and redactable.
        Returns the entry's sequence."""

    @abstractmethod
    async def create(
        self,
        sheet: Datasheet,
        values: Mapping[str, Value],
        actor: Actor,
        *,
        scope: RowScope | None = None,
    ) -> Record:
        """Create a record; audited. ``FORBIDDEN`` if it would fall outside *scope*."""

    @abstractmethod
    async def update(
        self,
        sheet: Datasheet,
        record_id: str,
        expected_version: int,
        values: Mapping[str, Value],
        actor: Actor,
        *,
        fields: Sequence[str] = (),
        scope: RowScope | None = None,
    ) -> Record:
        """Change *values* if the record is still at *expected_version*, else ``CONFLICT``;
        the result carries *fields*. Only records within *scope*, and they must stay in it."""

    @abstractmethod
    async def set_archived(
        self,
        sheet: Datasheet,
        record_id: str,
        expected_version: int,
        archived: bool,
        actor: Actor,
        *,
        fields: Sequence[str] = (),
        scope: RowScope | None = None,
    ) -> Record:
        """Archive or restore a record; versioned and audited like an update."""

    @abstractmethod
    async def delete(
        self,
        sheet: Datasheet,
        record_id: str,
        expected_version: int,
        actor: Actor,
        *,
        scope: RowScope | None = None,
    ) -> Record:
        """Delete a record; returns its last metadata (no values)."""

    @abstractmethod
    async def create_user(
        self, email: str, roles: Sequence[str], actor: Actor, *, can_export: bool = False
    ) -> User:
        """Create a user of this tenant; ``ConflictError`` if the email is taken."""

    @abstractmethod
    async def get_user(self, user_id: str) -> User | None:
        """A user by id."""

    @abstractmethod
    async def list_users(self) -> list[User]:
        """Every user of the tenant."""

    @abstractmethod
    async def update_user(
        self,
        user_id: str,
        expected_version: int,
        actor: Actor,
        *,
        roles: Sequence[str] | None = None,
        can_export: bool | None = None,
    ) -> User:
        """Change a user's roles or export permission; never takes the last admin's role."""

    @abstractmethod
    async def create_api_key(
        self, name: str, role: str, can_export: bool, actor: Actor
    ) -> tuple[ApiKey, str]:
        """A new key for *role*; returns it and the key's text, which is never stored."""

    @abstractmethod
    async def list_api_keys(self) -> list[ApiKey]:
        """Every key of the tenant, revoked ones included (no secrets)."""

    @abstractmethod
    async def revoke_api_key(self, key_id: str, actor: Actor) -> ApiKey:
        """Revoke a key; audited."""

    @abstractmethod
    async def check_api_key(self, key_id: str, secret: str) -> ApiKey | None:
        """The key if *secret* matches and it is not revoked."""

    @abstractmethod
    async def touch_api_key(self, key_id: str, at: dt.datetime) -> None:
        """Record a key's last use."""

    @abstractmethod
    async def list_roles(self) -> list[Role]:
        """The tenant's stored roles (the built-in admin role is not among them)."""

    @abstractmethod
    async def put_role(
        self, definition: RoleDefinition, expected_version: int | None, actor: Actor
    ) -> Role:
        """Create a role (*expected_version* None) or replace one at *expected_version*."""

    @abstractmethod
    async def delete_role(self, name: str, expected_version: int, actor: Actor) -> Role:
        """Delete a role; ``CONFLICT`` while a user holds it."""

    @abstractmethod
    async def role_versions(self, name: str) -> list[RoleVersion]:
        """Every committed version of a role, oldest first."""

    @abstractmethod
    async def policy_version(self) -> int:
        """A number that grows whenever a role or a user's roles change."""

    @abstractmethod
    async def record_attempt(
        self,
        operation: str,
        actor: Actor,
        code: str,
        *,
        datasheet: str | None = None,
        record: str | None = None,
        fields: Sequence[str] = (),
    ) -> None:
        """Audit a mutation that was refused or failed without changing anything."""

    @abstractmethod
    async def audit_page(
        self,
        query: AuditQuery,
        *,
        first: int,
        after: int | None = None,
        with_values: bool = False,
    ) -> tuple[list[AuditEntry], bool]:
        """Entries matching *query*, newest first, before sequence number *after*; and
        whether there are more."""

    @abstractmethod
    async def redact_audit(self, record_ids: Sequence[str], actor: Actor) -> int:
        """Redact the values of every audit entry about *record_ids* (erasure); the chain
        still verifies. The redaction is itself audited. Returns how many were redacted."""

    @abstractmethod
    async def erase_subject(self, email: str, actor: Actor) -> ErasureReport:
        """Delete every record of every datasheet with *email* in an email field, redact the
        values of their audit entries, and audit the erasure (without the email)."""

    @abstractmethod
    async def request_termination(self, actor: Actor) -> TenantInfo:
        """The tenant's own admin ends its environment: it becomes ``terminated`` (no
        access; purged after its retention period); audited."""

    @abstractmethod
    async def append_access(self, events: Sequence[AccessEvent]) -> None:
        """Append access and login events (in one batch)."""

    @abstractmethod
    async def access_page(
        self, query: AccessQuery, *, first: int, after: Any | None = None
    ) -> tuple[list[AccessEvent], bool]:
        """Access events matching *query*, newest first, before the event id *after*."""

    @abstractmethod
    async def encrypt_document(self, document: Mapping[str, Any]) -> bytes:
        """*document* encrypted (randomized) under the tenant's data key."""

    @abstractmethod
    async def decrypt_document(self, ciphertext: bytes) -> dict[str, Any]:
        """The document :meth:`encrypt_document` encrypted."""

    @abstractmethod
    async def seal_audit(self, key: SealKey, known: Sequence[SignedHead] = ()) -> int:
        """Seal the settled audit entries after the last checkpoint; returns how many.
        ``AuditTamperedError`` (after sealing the entries before it) at an entry or outcome
        whose MAC fails, or if a checkpoint of a *known* head is gone: never re-seal
        changed history."""

    @abstractmethod
    async def verify_audit(self, key: SealKey, heads: Sequence[SignedHead] = ()) -> VerifyReport:
        """Check every entry's and outcome's MAC, that sequence numbers are contiguous, the
        checkpoints, and the log against *heads* kept outside the database; name the first
        entry that does not match."""

    @abstractmethod
    def audit_receipts(self, key: SealKey) -> list[SignedHead]:
        """Signed receipts (sequence number and MAC) of the audit entries written through
        this handle, for the caller to keep outside the database."""

    @abstractmethod
    async def audit_head(self, key: SealKey) -> SignedHead | None:
        """The head of the last checkpoint, signed (None before the first seal)."""

    @abstractmethod
    async def reconcile(self, *, older_than: dt.timedelta) -> int:
        """Settle audit intents left pending by a crash; returns how many were settled."""

    @abstractmethod
    async def pending_intents(self) -> int:
        """How many audit intents have no outcome yet (writes in flight, or left by a crash
        and not yet settled): the audit backlog."""


class Store(ABC):
    """All tenants of all regions."""

    @abstractmethod
    def for_tenant(self, tenant_id: str) -> TenantStore:
        """The handle for one tenant; routes by the region in its id."""

    @abstractmethod
    async def create_tenant(
        self, name: str, country: str, admin_email: str
    ) -> tuple[TenantInfo, User]:
        """Provision a tenant in its country's region: control record, database, indexes,
        data key, and a first admin user."""

    @abstractmethod
    async def get_tenant(self, tenant_id: str) -> TenantInfo | None:
        """A tenant's control record."""

    @abstractmethod
    async def list_tenants(self) -> list[TenantInfo]:
        """Every tenant of every region."""

    @abstractmethod
    async def ping(self, region: RegionName) -> None:
        """Raise ``RegionUnavailableError`` unless *region*'s cluster answers."""

    @abstractmethod
    async def aclose(self) -> None:
        """Close every connection."""
