"""Built-in sign-in, for deployments without an identity provider.

- Passwords: argon2id (argon2-cffi's defaults), at least 12 characters, hashed and
  verified in threads (``gateway.auth.passwords``), never on the event loop.
- Lock-out: ``MAX_FAILURES`` failed attempts within ``LOCKOUT`` (since the last success)
  lock the user out until the oldest of them is ``LOCKOUT`` old. Each attempt takes its slot
  (an insert) *before* its password is checked, so of a burst sent at once at most
  ``MAX_FAILURES`` are checked. Guesses of the current password (``changePassword``) and
  of a code (``enrollTotp``) take slots too.
- Every refusal of ``login`` is the same ``UNAUTHENTICATED`` "invalid credentials" after
  the same work, one argon2 verification, whatever was wrong: unknown or inactive tenant,
  unknown email, locked account, wrong password, missing or wrong second factor. So neither
  the answer nor its time tells whether an account or tenant exists, is locked, or whether
  the password was right without its code.
- Two-factor: users enrol a TOTP secret (RFC 6238) and confirm it with a code; from then on
  sign-in needs a code, sent with the password. A code's time step is used once. A
  tenant's admins can require it: a user without it then gets a token that can only enrol.
- Sessions: sign-in gives a short-lived access token (15 min) naming its session, and a
  refresh token (``ers_…``, 30 days) that is rotated on every use; of concurrent uses of one
  refresh token at most one succeeds, and a refresh token used twice ends the session
  (someone has a copy). Signing out ends the session, and every access token of the
  session stops working at once (checked per request). A session authenticates only the
  user, tenant and scope it was opened for: a token naming another user's session is
  refused.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
from dataclasses import replace
from typing import NoReturn

import pyotp

from gateway.auth.passwords import PasswordHashing
from gateway.auth.tokens import TokenIssuer
from regions.routing import validate_tenant_id
from resolvers.context import Principal
from schema.errors import (
    BadUserInputError,
    EnclaveError,
    ForbiddenError,
    UnauthenticatedError,
)
from storage.base import Store, TenantStore
from storage.contract.credentials import CredentialStore
from storage.values import Actor, Credentials

__all__ = [
    "REFUSED",
    "SETUP_CODE_REFUSED",
    "SignIn",
    "Tokens",
    "refresh_tenant",
    "validate_password",
]

MAX_FAILURES = 5
LOCKOUT = dt.timedelta(minutes=15)
ACCESS_TTL = 15 * 60
REFRESH_TTL = dt.timedelta(days=30)
ENROLL_SCOPE = "enroll"
#: The one answer to any setup code that does not work, whatever is wrong with it.
SETUP_CODE_REFUSED = "invalid or expired setup code"
#: The one answer to any sign-in that does not work, whatever is wrong with it.
REFUSED = "invalid credentials"
_CODE = re.compile(r"[0-9]{6}", re.ASCII)


class Tokens:
    def __init__(self, access: str, refresh: str, expires_in: int, scope: str | None) -> None:
        self.access = access
        self.refresh = refresh
        self.expires_in = expires_in
        self.scope = scope


def _refresh_token(tenant_id: str, sid: str, secret: str) -> str:
    return f"ers_{tenant_id}_{sid}_{secret}"


def _parse_refresh(token: str) -> tuple[str, str, str]:
    parts = token.removeprefix("ers_").split("_")
    if not token.startswith("ers_") or len(parts) != 4:
        raise UnauthenticatedError("invalid or expired token")
    return f"{parts[0]}_{parts[1]}", parts[2], parts[3]


def refresh_tenant(token: str) -> str:
    """The tenant a refresh token belongs to (``UNAUTHENTICATED`` if it is malformed)."""
    return _parse_refresh(token)[0]


def validate_password(password: str) -> None:
    """Refuse a new password that breaks the rules (before anything else is looked at, so
    the refusal is the same whether the tenant or user exists)."""
    if not 12 <= len(password) <= 256:
        raise BadUserInputError("a password has 12 to 256 characters", field="password")


def _totp_step(secret: str | None, code: str | None) -> int | None:
    """The time step (now, or one either side for clock drift) whose code *code* is. Only
    six ASCII digits can be a code (anything else is a wrong one, whatever the password)."""
    if not secret or not code:
        return None
    given = code.strip()
    if not _CODE.fullmatch(given):
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(dt.datetime.now(dt.UTC))
    for step in (now - 1, now, now + 1):
        if hmac.compare_digest(totp.generate_otp(step).encode(), given.encode()):
            return step
    return None


class SignIn:
    def __init__(
        self,
        store: Store,
        tokens: TokenIssuer,
        passwords: PasswordHashing,
        *,
        sessionless: bool = False,
    ) -> None:
        self._store = store
        self._tokens = tokens
        self.passwords = passwords
        self._sessionless = sessionless

    async def check_password(self, tenant_id: str, password: str) -> str:
        """The argon2id hash of a new *password* of a user of *tenant_id*, if it is
        acceptable."""
        validate_password(password)
        return await self.passwords.hash(password, tenant_id)

    async def refuse(self, tenant_id: str, password: str, message: str = REFUSED) -> NoReturn:
        """Refuse a sign-in before any account was looked at (an unknown or inactive
        tenant), after the same one verification every refusal costs."""
        await self.passwords.verify(None, password, tenant_id)
        raise UnauthenticatedError(message)

    async def _second_factor(
        self, creds: CredentialStore, found: Credentials, code: str | None
    ) -> bool:
        """Whether *code* is a current code of the user's active second factor whose time
        step was not used yet (it is used now)."""
        step = _totp_step(found.totp_secret, code)
        return step is not None and await creds.claim_totp_step(found.user_id, step)

    @staticmethod
    async def _reserve(creds: CredentialStore, user_id: str | None, email: str = "") -> bool:
        return await creds.reserve_attempt(user_id, email, MAX_FAILURES, LOCKOUT)

    def _tenant(self, tenant_id: str, refused: str = "invalid credentials") -> TenantStore:
        try:
            return self._store.for_tenant(validate_tenant_id(tenant_id))
        except EnclaveError:
            raise UnauthenticatedError(refused) from None

    async def login(
        self, tenant_id: str, email: str, password: str, code: str | None
    ) -> tuple[Tokens, Principal]:
        try:
            tenant = self._tenant(tenant_id)
            creds = tenant.credentials
        except UnauthenticatedError:
            await self.refuse(tenant_id, password)
        normalised = email.strip().lower()
        found = await creds.by_email(normalised)
        # The attempt takes its slot before the password is checked (a burst cannot check
        # more than MAX_FAILURES), with the same database work for an unknown email.
        reserved = await self._reserve(creds, found.user_id if found else None, normalised)
        # One verification whatever is wrong (a dummy hash without a user or password):
        # neither the answer nor its time tells what was.
        matches = await self.passwords.verify(
            found.password_hash if found else None, password, tenant_id
        )
        if found is None or not reserved:
            raise UnauthenticatedError(REFUSED)
        if matches and found.totp_enabled:
            # The password is not confirmed before the second factor: a right password
            # without its code is refused like a wrong one.
            matches = await self._second_factor(creds, found, code)
        if not matches:
            raise UnauthenticatedError(REFUSED)  # its slot stays taken: a failure
        await creds.clear_attempts(found.user_id)
        scope = None
        if not found.totp_enabled and await creds.two_factor_required():
            scope = ENROLL_SCOPE
        sid, secret = await tenant.sessions.open(
            found.user_id, REFRESH_TTL, scope, second_factor=found.totp_enabled
        )
        tokens = Tokens(
            self._tokens.issue(
                tenant_id, found.user_id, found.roles, ttl=ACCESS_TTL, sid=sid, scope=scope
            ),
            _refresh_token(tenant_id, sid, secret),
            ACCESS_TTL,
            scope,
        )
        principal = Principal(tenant_id=tenant_id, user_id=found.user_id, roles=found.roles)
        return tokens, principal

    async def activate(
        self,
        tenant_id: str,
        email: str,
        code: str,
        password: str,
        client: Actor,
        two_factor: str | None = None,
    ) -> tuple[Tokens, Principal]:
        """Set a password with a one-time setup code, then sign in (with *two_factor*, the
        TOTP code, if the user has a second factor already). Whatever is wrong
        with the code (unknown, expired, used, another user's) answers the same
        ``UNAUTHENTICATED``; *client* gives the caller's IP address and user agent."""
        password_hash = await self.check_password(
            tenant_id, password
        )  # refused before the code is spent
        tenant = self._tenant(tenant_id, SETUP_CODE_REFUSED)
        creds = tenant.credentials
        found = await creds.by_email(email.strip().lower())
        refused = UnauthenticatedError(SETUP_CODE_REFUSED)
        if found is None:
            raise refused
        actor = replace(client, user_id=found.user_id, roles=found.roles, kind="user")
        if not await tenant.setup_codes.redeem(found.user_id, code.strip(), actor):
            if await tenant.setup_codes.pending(found.user_id):  # bounded: only while one is
                await tenant.audit.record_attempt(
                    "activateAccount", actor, refused.code, record=found.user_id
                )
            raise refused
        await creds.set_password_hash(found.user_id, password_hash, actor)
        await tenant.sessions.close_all(found.user_id)  # as any reset: every session ends
        await creds.clear_attempts(found.user_id)
        return await self.login(tenant_id, email, password, two_factor)

    async def refresh(self, refresh_token: str) -> Tokens:
        tenant_id, sid, secret = _parse_refresh(refresh_token)
        tenant = self._tenant(tenant_id, "invalid or expired token")
        creds = tenant.credentials
        rotated = await tenant.sessions.rotate(sid, secret, REFRESH_TTL)
        if rotated is None:
            raise UnauthenticatedError("invalid or expired token")
        user_id, fresh, scope = rotated
        found = await creds.by_id(user_id)
        if found is None:
            raise UnauthenticatedError("invalid or expired token")
        # A session's tokens never get wider than it (an enrol-only session stays one), but
        # narrower when its tenant has come to require a second factor the user lacks.
        if scope is None and not found.totp_enabled and await creds.two_factor_required():
            scope = ENROLL_SCOPE
        return Tokens(
            self._tokens.issue(
                tenant_id, user_id, found.roles, ttl=ACCESS_TTL, sid=sid, scope=scope
            ),
            _refresh_token(tenant_id, sid, fresh),
            ACCESS_TTL,
            scope,
        )

    def _own_credentials(self, principal: Principal) -> CredentialStore:
        """The credential store for a user's own password or second factor; an API key has
        neither, and is refused before any hashing (no key can drive the hashing pool)."""
        if principal.kind != "user":
            raise ForbiddenError("an API key has no password or second factor")
        return self._store.for_tenant(principal.tenant_id).credentials

    async def logout(self, principal: Principal) -> None:
        if principal.session:
            await self._store.for_tenant(principal.tenant_id).sessions.close(principal.session)

    async def session_active(self, principal: Principal) -> bool:
        if principal.session is None:  # minted from the secret, not by a sign-in
            return self._sessionless
        return await self._store.for_tenant(principal.tenant_id).sessions.active(
            principal.session, principal.user_id, principal.scope
        )

    async def enroll_totp(
        self, principal: Principal, actor: Actor, code: str | None = None
    ) -> tuple[str, str]:
        """A new secret to confirm; while one is active, replacing it needs a current code
        (so a stolen access token cannot remove a second factor)."""
        creds = self._own_credentials(principal)
        found = await creds.by_id(principal.user_id)
        if found is None:
            raise UnauthenticatedError("invalid or expired token")
        if found.totp_enabled:
            # A guess of the code counts against the same lock-out as sign-in.
            if not (
                code is not None
                and await self._reserve(creds, found.user_id)
                and await self._second_factor(creds, found, code)
            ):
                raise UnauthenticatedError(
                    "a current two-factor code is required", twoFactor="required"
                )
            await creds.clear_attempts(found.user_id)
        secret = pyotp.random_base32()
        await creds.set_totp_pending(principal.user_id, secret, actor)
        uri = pyotp.TOTP(secret).provisioning_uri(name=principal.user_id, issuer_name="Enclave")
        return secret, uri

    async def confirm_totp(self, principal: Principal, code: str, actor: Actor) -> None:
        creds = self._own_credentials(principal)
        found = await creds.by_id(principal.user_id)
        if found is None or not found.totp_pending:
            raise BadUserInputError("enrol first", field="code")
        step = _totp_step(found.totp_pending, code)
        # The confirming code's time step is used: it is not accepted again at sign-in.
        if step is None or not await creds.claim_totp_step(found.user_id, step):
            raise BadUserInputError("the code does not match", field="code")
        await creds.activate_totp(principal.user_id, actor)

    async def set_password(self, tenant_id: str, user_id: str, password: str, actor: Actor) -> None:
        await self.set_password_hash(
            tenant_id, user_id, await self.check_password(tenant_id, password), actor
        )

    async def set_password_hash(
        self, tenant_id: str, user_id: str, password_hash: str, actor: Actor
    ) -> None:
        """Set a hash from ``check_password`` (hashed before a user is created, so that a
        refusal of the hashing leaves no user without the password asked for)."""
        tenant = self._store.for_tenant(tenant_id)
        await tenant.credentials.set_password_hash(user_id, password_hash, actor)
        await tenant.sessions.close_all(user_id)  # a reset ends every session

    async def require_two_factor(self, tenant_id: str, required: bool, actor: Actor) -> None:
        await self._store.for_tenant(tenant_id).credentials.require_two_factor(required, actor)

    async def change_password(
        self, principal: Principal, current: str, new: str, actor: Actor
    ) -> None:
        creds = self._own_credentials(principal)
        validate_password(new)
        found = await creds.by_id(principal.user_id)
        # A guess of the current password counts against the same lock-out as sign-in.
        reserved = await self._reserve(creds, principal.user_id)
        matches = await self.passwords.verify(
            found.password_hash if found else None, current, principal.tenant_id
        )
        if not (reserved and matches):
            raise UnauthenticatedError("the current password does not match")
        await creds.clear_attempts(principal.user_id)
        new_hash = await self.check_password(principal.tenant_id, new)
        await creds.set_password_hash(principal.user_id, new_hash, actor)
        # Whoever else had a session (a stolen token, perhaps) is signed out.
        sessions = self._store.for_tenant(principal.tenant_id).sessions
        await sessions.close_all(principal.user_id, keep=principal.session)
