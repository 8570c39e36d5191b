"""Keys derived from a secret the database never holds, and the MACs of trusted documents.

:class:`DerivedKey` is the machinery shared by every MAC the gateway puts on what it writes:
a secret of at least 32 bytes, read from a file or taken from the audit seal key (PEM), and
a key derived from it with HKDF-SHA256 under a label of its own, so that no two uses share
a key. :class:`storage.auditmac.EntryAuthenticator` authenticates audit entries with one;
:class:`DocumentAuthenticator` authenticates the documents whose content the gateway trusts
for authentication and authorisation (users, roles, API keys, tenant settings, sessions,
setup codes, breach incidents and the contact point, blocked principals, the binding of a
tenant to its data key).

A document's MAC (``_mac``) covers its collection, its database, its ``_id`` and the
security-relevant fields listed in :data:`COVERED` (the plaintext of encrypted ones), so a
document forged or edited in the database, or a valid one copied to another tenant or
another id, fails verification: it is then treated as absent, logged without values, and
counted (``on_refused``). Bookkeeping fields (a key's last use, timestamps) are not covered,
so they can be written on their own without making the MAC stale.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from storage.signing import SealKey

__all__ = ["COVERED", "MAC_FIELD", "DerivedKey", "DocumentAuthenticator", "canonical"]

log = logging.getLogger("enclave.storage.documentmac")

_MIN_SECRET = 32
MAC_FIELD = "_mac"
K = TypeVar("K", bound="DerivedKey")

#: Per kind of document: the fields its MAC covers (a missing field counts as None).
COVERED: Mapping[str, tuple[str, ...]] = {
    "users": (
        "email",
        "roles",
        "canExport",
        "passwordHash",
        "totpSecret",
        "totpEnabled",
        "totpPending",
        "status",
        "_deleted",
        "_v",
    ),
    "roles": ("description", "sheets", "_deleted", "_v"),
    "api_keys": ("name", "role", "canExport", "hash", "revoked", "_v"),
    # ``thresholds``: the detection rules' (a raised one would silence a rule).
    "settings": ("requireTwoFactor", "allowList", "minimumGroupSize", "thresholds", "_v"),
    "sessions": ("user", "scope", "hash", "expiresAt", "revoked"),
    "setup_codes": ("user", "expiresAt"),
    "incidents": (
        "state",
        "origin",
        "rule",
        "compromised",
        "windowStart",
        "windowEnd",
        "detectedAt",
        "nature",
        "history",
        "containment",
        "reports",
        "_v",
    ),
    "tenant_contact": ("contact", "_v"),
    #: A principal a breach containment blocked (storage.mongo.blocks).
    "principal_blocks": ("principal", "blockedAt", "incident", "_v"),
    #: A tenant's control record (``enclave_control.tenants``; database: the tenant's).
    "control": (
        "name",
        "country",
        "region",
        "status",
        "stateVersion",
        "createdAt",
        "retentionDays",
        "terminatedAt",
        "purgeDueAt",
    ),
    #: A tenant's data key: the control record's ``keyMac`` over (tenant, key id).
    "data_key": ("keyId",),
}


def _default(value: object) -> object:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:  # read back without tz_aware: stored as UTC
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat(timespec="milliseconds")
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot canonicalise {type(value).__name__}")


def canonical(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=_default).encode()


class DerivedKey:
    """A key derived with HKDF-SHA256 under the subclass's ``INFO`` label from a secret the
    database never holds; keys for other labels come from the same secret (:meth:`sibling`)."""

    INFO: ClassVar[bytes]

    def __init__(self, secret: bytes) -> None:
        if len(secret) < _MIN_SECRET:
            raise ValueError(f"the MAC secret must have at least {_MIN_SECRET} bytes")
        self._secret = secret
        self._key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=self.INFO).derive(
            secret
        )
        self._siblings: dict[type[DerivedKey], DerivedKey] = {}

    @classmethod
    def from_seal_key(cls: type[K], seal: SealKey) -> K:
        raw = seal.private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return cls(raw)

    @classmethod
    def from_file(cls: type[K], path: Path) -> K:
        """From a secret file, or from a seal key file (PEM): point it at the old seal key
        file when rotating that key, and MACs keep verifying."""
        content = path.read_bytes()
        if content.lstrip().startswith(b"-----BEGIN"):
            return cls.from_seal_key(SealKey.from_file(path))
        return cls(content.strip())

    def sibling(self, kind: type[K]) -> K:
        """The key of *kind* derived from the same secret (one instance per kind)."""
        found = self._siblings.get(kind)
        if found is None:
            found = self._siblings[kind] = kind(self._secret)
        assert isinstance(found, kind)
        return found

    def _hmac(self, message: bytes) -> str:
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


class DocumentAuthenticator(DerivedKey):
    """MACs of the documents the gateway trusts for authentication and authorisation."""

    INFO = b"enclave trusted document mac v1"

    def __init__(self, secret: bytes) -> None:
        super().__init__(secret)
        #: Told the kind of every document refused (a metric); never its values.
        self.on_refused: Callable[[str], None] | None = None

    def seal(self, database: str, kind: str, doc_id: str, document: Mapping[str, Any]) -> str:
        """The MAC of *document* (its covered fields) as ``_id`` *doc_id* of *database*."""
        covered = {name: document.get(name) for name in COVERED[kind]}
        return self._hmac(f"enclave-doc|{kind}|{database}|{doc_id}|".encode() + canonical(covered))

    def sealed(self, database: str, kind: str, document: Mapping[str, Any]) -> dict[str, Any]:
        """*document* with its ``_mac``."""
        doc_id = str(document["_id"])
        return {**document, MAC_FIELD: self.seal(database, kind, doc_id, document)}

    def verify(self, database: str, kind: str, document: Mapping[str, Any] | None) -> bool:
        """Whether *document* carries a valid MAC; a failure is logged (ids only) and counted.
        None (no document) is not a failure, but is not valid either."""
        if document is None:
            return False
        mac = document.get(MAC_FIELD)
        doc_id = str(document.get("_id"))
        if isinstance(mac, str) and hmac.compare_digest(
            mac, self.seal(database, kind, doc_id, document)
        ):
            return True
        log.error(
            "refused a %s document of %s whose MAC fails (id %s): not written by a gateway",
            kind,
            database,
            doc_id if len(doc_id) <= 80 and doc_id.isprintable() else "?",
        )
        if self.on_refused is not None:
            self.on_refused(kind)
        return False

    def valid(
        self, database: str, kind: str, document: Mapping[str, Any] | None
    ) -> Mapping[str, Any] | None:
        """*document* if it verifies, else None (treated as absent)."""
        return document if self.verify(database, kind, document) else None
