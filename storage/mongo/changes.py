"""What the audited write path writes: a :class:`Change` to one record, how each
collection's values are stored (their field declarations), and the parts of an audit entry
made from its actor and values."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from schema.datasheets import DATASHEETS, EMAIL, Field, FieldType, Sensitivity
from storage.values import Actor

__all__ = [
    "BLOCKS",
    "CONTACT",
    "INCIDENTS",
    "OPS",
    "ROLES",
    "TRUSTED",
    "USERS",
    "Change",
    "Op",
    "actor_doc",
    "client_doc",
    "commitment",
    "declared_fields",
]

Op = Literal["create", "update", "archive", "restore", "delete"]
OPS = frozenset(("create", "update", "archive", "restore", "delete"))


@dataclass(slots=True)
class Change:
    """One change to one record. Values are plain (dates as ISO strings): the write path
    encrypts them for the record, and keeps them encrypted as one blob in the intent."""

    op: Op
    collection: str
    record_id: str
    version: int  # the version the record has after the change
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)  # None unsets a field
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. {"_archived": True}

    @property
    def fields(self) -> list[str]:
        return sorted(set(self.before) | set(self.after))


#: Collections of a tenant database besides the datasheets' (their values as stored).
USERS, ROLES = "users", "roles"
#: Breach incidents, and the tenant's contact point for the authority (one document).
INCIDENTS, CONTACT = "incidents", "tenant_contact"
#: Principals a breach containment blocked (storage.mongo.blocks).
BLOCKS = "principal_blocks"
_FREE_TEXT = ("nature", "history", "containment", "reports")

#: Fields that are encrypted outside the datasheets; anything undeclared is stored plain.
_OTHER_FIELDS: Mapping[str, Mapping[str, Field]] = {
    "users": {
        "email": EMAIL,
        "totpSecret": Field("totpSecret", FieldType.STRING, Sensitivity.RANDOM),
    },
    # A saved report's filter may name a person (lastName = ...): kept encrypted.
    "report_definitions": {"filter": Field("filter", FieldType.STRING, Sensitivity.RANDOM)},
    # Free text of incidents (and the lists holding notes and report texts), the contact.
    INCIDENTS: {name: Field(name, FieldType.STRING, Sensitivity.RANDOM) for name in _FREE_TEXT},
    CONTACT: {"contact": Field("contact", FieldType.STRING, Sensitivity.RANDOM)},
}


#: Collections whose records carry a MAC of their trusted fields (storage.documentmac).
TRUSTED = frozenset(("users", "roles", "api_keys", "settings", INCIDENTS, CONTACT, BLOCKS))


def declared_fields(collection: str) -> Mapping[str, Field]:
    """The field declarations that decide how *collection*'s values are stored."""
    sheet = DATASHEETS.get(collection)
    return sheet.by_name if sheet is not None else _OTHER_FIELDS.get(collection, {})


def commitment(ciphertext: bytes) -> str:
    """A binding commitment to an entry's values: the hash of their ciphertext (which,
    being randomized encryption, reveals nothing about them)."""
    return hashlib.sha256(ciphertext).hexdigest()


def actor_doc(actor: Actor) -> dict[str, Any]:
    return {
        "kind": actor.kind,
        "id": actor.user_id,
        "roles": list(actor.roles),
        "requestId": actor.request_id,
        **({"session": actor.session} if actor.session else {}),
    }


def client_doc(actor: Actor) -> dict[str, Any]:
    """The actor's IP address and user agent: personal data, so kept inside the encrypted blob."""
    return {"ip": actor.ip, "userAgent": actor.user_agent}
