"""What every resolver gets: who is asking, and the store scoped to their tenant."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from storage.auditmac import SignedHead
from storage.base import TenantStore
from storage.signing import SealKey
from storage.values import Actor

if TYPE_CHECKING:
    from resolvers.authz.cache import AuthorizationCache
    from resolvers.authz.policy import Policy

__all__ = [
    "AccessSink",
    "AccountPort",
    "ExportLinks",
    "OperationsPort",
    "PolicyNotifier",
    "Principal",
    "RequestContext",
]


class AccessSink(Protocol):
    def read(self, datasheet: str, fields: Sequence[str], records: Sequence[str]) -> None:
        """The caller was given *fields* of *records*; recorded off the request path."""

    def export(self, datasheet: str, fields: Sequence[str], records: Sequence[str]) -> None:
        """The same, given in an export (``kind="export"``)."""

    def report(self, datasheet: str, fields: Sequence[str], aggregated: int) -> None:
        """A report grouped or measured *fields* over *aggregated* records (no ids)."""

    def refused(self, code: str) -> None:
        """The request was answered with error *code* (``FORBIDDEN``, ``NOT_FOUND``): recorded
        with the code only, so that probing can be detected (gateway.detection)."""


class ExportLinks(Protocol):
    """Signed, expiring download links of export jobs (gateway.exporturls)."""

    @property
    def ttl_seconds(self) -> int:
        """How long a link stays valid."""

    @property
    def timeout_seconds(self) -> float:
        """The deadline of an export's database reads (storage: ``stream``, ``count``)."""

    def url(self, tenant_id: str, job_id: str, principal: str, expires: int) -> str:
        """The download URL of a job for *principal* (``kind:id``), valid until *expires*."""


class AccountPort(Protocol):
    """The built-in sign-in's operations on a signed-in user's account."""

    async def logout(self, principal: Principal) -> None: ...

    async def enroll_totp(
        self, principal: Principal, actor: Actor, code: str | None = None
    ) -> tuple[str, str]: ...

    async def confirm_totp(self, principal: Principal, code: str, actor: Actor) -> None: ...

    async def change_password(
        self, principal: Principal, current: str, new: str, actor: Actor
    ) -> None: ...

    async def set_password(
        self, tenant_id: str, user_id: str, password: str, actor: Actor
    ) -> None: ...

    async def check_password(self, tenant_id: str, password: str) -> str:
        """The hash of an acceptable new password (``BAD_USER_INPUT`` if not)."""

    async def set_password_hash(
        self, tenant_id: str, user_id: str, password_hash: str, actor: Actor
    ) -> None: ...

    async def require_two_factor(self, tenant_id: str, required: bool, actor: Actor) -> None: ...


class OperationsPort(Protocol):
    """Persisted operations of the caller's tenant (gateway.persisted)."""

    async def set_allow_list(self, tenant_id: str, enabled: bool, actor: Actor) -> None: ...

    async def register(self, tenant_id: str, document: str, actor: Actor) -> str: ...


class PolicyNotifier(Protocol):
    async def changed(self, tenant_id: str) -> None:
        """Roles or users of *tenant_id* changed: every process must recompile."""

    async def keep_blocks(self, tenant_id: str, principals: Sequence[str], at: dt.datetime) -> None:
        """A containment blocked *principals* (``kind:id``) at *at*: kept outside the
        database too, so deleting the block documents does not lift it."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    tenant_id: str
    user_id: str
    roles: tuple[str, ...]
    kind: Literal["user", "api_key"] = "user"
    #: Signed by an external identity provider, whose roles claim decides the roles.
    external: bool = False
    #: For an API key: whether the key may export (for users it is on their record).
    key_can_export: bool = False
    #: The sign-in session a token belongs to (built-in sign-in), checked on every request.
    session: str | None = None
    #: "enroll": a token that may only enrol a second factor (the tenant requires one).
    scope: str | None = None
    #: When the credential was issued (a token's ``iat``, seconds): a principal blocked by
    #: a breach containment is refused every credential issued at or before the block.
    issued_at: int | None = None


@dataclass(frozen=True, slots=True)
class RequestContext:
    principal: Principal
    store: TenantStore
    actor: Actor
    policy: Policy
    authorization_cache: AuthorizationCache
    policies: PolicyNotifier
    seal_key: Callable[[], SealKey]
    access: AccessSink
    account: AccountPort
    default_page_size: int
    max_page_size: int
    max_cost: int
    #: Fields given masked in this response, per GraphQL type (for extensions.masked).
    masked: dict[str, set[str]] = field(default_factory=dict)
    #: Breach impacts measured in this request (each may read a long stretch of the logs:
    #: one per request, resolvers.breach.impact.one_per_request).
    impacts: list[str] = field(default_factory=list)
    #: Download links of exports (None where exports are not served).
    exports: ExportLinks | None = None
    #: Registered documents and the allow-list mode (None where not wired, e.g. tools).
    operations: OperationsPort | None = None
    #: The signed audit heads gateways remember for a tenant (outside its database).
    known_heads: Callable[[str], Awaitable[list[SignedHead]]] | None = None
    #: Tokens a document may have (the parse of a registered document stops past it).
    max_tokens: int = 2_000
    #: Whether the gateway accepts an external identity provider's tokens (whose subjects
    #: need not be users of the tenant).
    accepts_external: bool = False
