"""Authenticating audit entries where they are written, and signed heads of the chain.

Every audit entry and every outcome carries an HMAC-SHA256 (``mac``) computed by the
gateway as it writes them, over the tenant database's name and the document's canonical
JSON (everything but ``mac``). The key is derived with HKDF-SHA256 from a secret the gateway
holds and the database never does: the audit seal key file (``ENCLAVE_AUDIT_SEAL_KEY_FILE``)
by default, or ``ENCLAVE_AUDIT_MAC_KEY_FILE`` if set (so the seal key can be rotated on its
own). An entry's values live apart (``audit_values``) and are bound by the commitment the
entry holds, so the MAC covers them without covering the plaintext, and a redaction leaves it
valid. Someone with write access to the database but not the key cannot change, forge or move
(between tenants or sequence numbers) an entry or an outcome without verification naming it.

A :class:`SignedHead` is the chain's head after sequence number *seq*, signed with the seal
key (Ed25519): the gateway keeps the latest in its memory and in Redis, and ``enclave audit
heads`` exports them for an operator to keep elsewhere. A *receipt* (the same, of one entry's
MAC) comes with every mutation's answer (``extensions.audit``), for the client to keep.
Dropping the newest entries together with their checkpoints is found by checking the log
against heads and receipts kept outside it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from storage.documentmac import DerivedKey, canonical
from storage.signing import SealKey

__all__ = ["EntryAuthenticator", "SignedHead", "canonical"]

_INFO = b"enclave audit entry mac v1"


class EntryAuthenticator(DerivedKey):
    """HMAC-SHA256 of audit entries and outcomes under a key the database never holds."""

    INFO = _INFO

    def __init__(self, secret: bytes) -> None:
        super().__init__(secret)
        #: Names the key in each entry (``macKey``), so that a rotated key is told apart.
        self.id = hashlib.sha256(b"enclave audit mac id|" + self._key).hexdigest()[:16]

    def _mac(self, kind: str, db_name: str, document: Mapping[str, Any]) -> str:
        body = {k: v for k, v in document.items() if k != "mac"}
        return self._hmac(f"enclave-audit-{kind}|{db_name}|".encode() + canonical(body))

    def entry(self, db_name: str, entry: Mapping[str, Any]) -> str:
        return self._mac("entry", db_name, entry)

    def outcome(self, db_name: str, outcome: Mapping[str, Any]) -> str:
        return self._mac("outcome", db_name, outcome)

    def entry_ok(self, db_name: str, entry: Mapping[str, Any]) -> bool:
        mac = entry.get("mac")
        return isinstance(mac, str) and hmac.compare_digest(mac, self.entry(db_name, entry))

    def outcome_ok(self, db_name: str, outcome: Mapping[str, Any]) -> bool:
        mac = outcome.get("mac")
        return isinstance(mac, str) and hmac.compare_digest(mac, self.outcome(db_name, outcome))


def _message(kind: str, database: str, seq: int, value: str) -> bytes:
    return f"enclave-audit-{kind}|{database}|{seq}|{value}".encode()


@dataclass(frozen=True, slots=True)
class SignedHead:
    """Signed evidence, to keep outside the database, of one tenant database's audit log:
    a *head* (the chain's head after entry *seq*, in ``value``) or a *receipt* (entry
    *seq* was written with the MAC in ``value``; given with each mutation's answer)."""

    database: str
    seq: int
    value: str
    key_id: str
    signature: str  # base64
    kind: Literal["head", "receipt"] = "head"

    @classmethod
    def sign(
        cls,
        key: SealKey,
        database: str,
        seq: int,
        value: str,
        kind: Literal["head", "receipt"] = "head",
    ) -> SignedHead:
        signature = key.sign(_message(kind, database, seq, value))
        return cls(database, seq, value, key.id, base64.b64encode(signature).decode(), kind)

    def verifies(self, key: SealKey) -> bool:
        try:
            signature = base64.b64decode(self.signature, validate=True)
        except ValueError:
            return False
        message = _message(self.kind, self.database, self.seq, self.value)
        return key.verify(self.key_id, message, signature)

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "seq": self.seq,
            "head" if self.kind == "head" else "mac": self.value,
            "keyId": self.key_id,
            "signature": self.signature,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SignedHead:
        """A head or receipt from :meth:`to_json`; ``ValueError`` if it is neither."""
        kind: Literal["head", "receipt"] = "receipt" if "mac" in data else "head"
        try:
            head = cls(
                str(data["database"]),
                int(data["seq"]),
                str(data["head" if kind == "head" else "mac"]),
                str(data["keyId"]),
                str(data["signature"]),
                kind,
            )
        except (KeyError, TypeError, ValueError):
            raise ValueError("not a signed audit head or receipt") from None
        if head.seq < 1:
            raise ValueError("not a signed audit head or receipt")
        return head
