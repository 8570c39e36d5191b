"""Decryption only under the reading tenant's own data key.

One key vault serves a region, and libmongocrypt decrypts a value with whatever data key
the value names. So someone with write access to the database (no master key) could copy
tenant A's ciphertext into a record of tenant B and have B's users read it in the clear.
This module is the one place that prevents it.

CSFLE ciphertext is BSON binary subtype 6 whose payload starts with the blob subtype
(1 deterministic, 2 randomized) followed by the 16-byte UUID of the data key
(libmongocrypt, ``mongocrypt-ciphertext.c``). Each region's auto-decrypting client
(``RegionClient.data``) decrypts every server reply in one libmongocrypt context: PyMongo
calls ``AsyncMongoClient._encrypter.decrypt(reply)`` once per reply
(``pymongo/asynchronous/command_runner.py``). :func:`install` wraps that call with a
:class:`KeyCheck` which, before libmongocrypt sees the reply, walks it (nested documents
and arrays too) and lets it through only if every subtype-6 value is blob subtype 1 or 2
under the data key of the tenant being read for; otherwise nothing of the reply is
decrypted and ``DataIntegrityError`` (``DATA_INTEGRITY``) is raised, logged without
values, and counted. A reply without ciphertext skips libmongocrypt; a reply with
ciphertext read outside a tenant's scope is refused.

The tenant being read for is set by the code, never taken from the reply: every async
method of a class decorated with :func:`tenant_scoped` (the tenant store and the
repositories it hands out) runs inside :func:`tenant_scope`. A tenant's key id is read
once from its control record (``keyId``) and cached per process (bounded; a tenant's data
key never changes, only the master key wrapping it). The control record and the key vault
are the database's, so the key id is taken only if the control record holds a MAC of
(tenant, key id) made when the tenant was created, under a key the database never holds
(:mod:`storage.documentmac`, kind ``data_key``), and the vault's document of that key (read
by ``_id``) still names the tenant among its key alt names: a key id rewritten in the
record fails the MAC, key alt names rewritten in the vault fail the second check, and in
either case nothing is decrypted for the tenant.
Values are encrypted by that checked key id too (``FieldCodec``), never by alt name.

Private PyMongo API: ``AsyncMongoClient._encrypter`` and its ``decrypt``.
:func:`install` refuses to start if they are missing, and ``tests/test_decryption.py``
fails if PyMongo stops calling them.

What it does not detect: a value under the tenant's *own* key moved to another field or
record of the same tenant (CSFLE binds a ciphertext to its key only, not to a field or
record; deterministic ciphertexts of equal values are equal anyway).
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NoReturn, TypeVar

import bson
from bson.binary import Binary
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from cachetools import LRUCache

from regions.clients import CODEC_OPTIONS, KEY_VAULT_NAMESPACE, RegionClient
from regions.routing import database_name
from schema.errors import DataIntegrityError
from storage.caches import TENANT_CACHE_SIZE
from storage.documentmac import MAC_FIELD, DocumentAuthenticator
from storage.tracing import span

__all__ = [
    "KeyCheck",
    "KeyIds",
    "decrypt_blob",
    "install",
    "installed",
    "key_binding",
    "key_id_of",
    "tenant_of_database",
    "tenant_scope",
    "tenant_scoped",
]

log = logging.getLogger("enclave.storage.decryption")

#: BSON binary subtype of encrypted values, and the blob subtypes of the values Enclave
#: writes (FLE1 deterministic, FLE1 randomized).
ENCRYPTED = 6
_FLE1 = (1, 2)
_RAW: CodecOptions[dict[str, Any]] = CodecOptions(uuid_representation=bson.binary.STANDARD)
_RAW_DOCUMENTS: CodecOptions[RawBSONDocument] = CodecOptions(
    document_class=RawBSONDocument, uuid_representation=bson.binary.STANDARD
)
_ID = re.compile(r"^[0-9A-Za-z_./-]{1,80}$")

_TENANT: ContextVar[str | None] = ContextVar("enclave_decrypting_tenant", default=None)
T = TypeVar("T")


@contextmanager
def tenant_scope(tenant_id: str) -> Iterator[None]:
    """Replies read inside decrypt only values under *tenant_id*'s data key."""
    token = _TENANT.set(tenant_id)
    try:
        yield
    finally:
        _TENANT.reset(token)


def _scoped_coroutine(fn: Callable[..., Any], tenant: Callable[[Any], str]) -> Any:
    @functools.wraps(fn)
    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with tenant_scope(tenant(self)):
            return await fn(self, *args, **kwargs)

    return wrapper


def _scoped_generator(fn: Callable[..., Any], tenant: Callable[[Any], str]) -> Any:
    @functools.wraps(fn)
    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        inner = fn(self, *args, **kwargs)
        try:
            while True:
                # The scope covers each step, never the consumer's code between steps.
                with tenant_scope(tenant(self)):
                    try:
                        item = await anext(inner)
                    except StopAsyncIteration:
                        return
                yield item
        finally:
            with tenant_scope(tenant(self)):
                await inner.aclose()

    return wrapper


def tenant_scoped(tenant: Callable[[Any], str]) -> Callable[[type[T]], type[T]]:
    """Class decorator: every async method (and async generator) defined on the class runs
    in the scope of ``tenant(self)``, methods added later included."""

    def decorate(cls: type[T]) -> type[T]:
        for name, fn in list(vars(cls).items()):
            if inspect.iscoroutinefunction(fn):
                setattr(cls, name, _scoped_coroutine(fn, tenant))
            elif inspect.isasyncgenfunction(fn):
                setattr(cls, name, _scoped_generator(fn, tenant))
        return cls

    return decorate


def tenant_of_database(repository: Any) -> str:
    """The tenant of a repository holding a tenant database handle as ``_db``."""
    name: str = repository._db.name
    return name.removeprefix("tenant_")


#: Where a tenant's control record is (storage.mongo.control), holding ``keyMac``.
_CONTROL = ("enclave_control", "tenants")


def key_binding(tenant_id: str, key_id: bytes) -> dict[str, Any]:
    """What the ``data_key`` MAC of a tenant's control record (``keyMac``) covers."""
    return {"_id": tenant_id, "keyId": key_id.hex()}


class KeyIds:
    """Each tenant's data key id (16 bytes), taken from the tenant's control record
    (``keyId``) only if the record binds it (``keyMac``) and the key vault's document of
    that id names the tenant among its key alt names; bounded LRU. The key document read
    for that check is handed to libmongocrypt's key fetch (``regions.keyfetch``), which
    asks for it next: a cold tenant's key is read once."""

    def __init__(
        self, region: RegionClient, documents: DocumentAuthenticator, size: int = TENANT_CACHE_SIZE
    ) -> None:
        vault_db, vault_coll = KEY_VAULT_NAMESPACE.split(".", 1)
        # Raw: the document found is handed to libmongocrypt's key fetch as it is.
        self._vault = region.plain[vault_db][vault_coll].with_options(_RAW_DOCUMENTS)
        self._fetches = region.key_fetches
        self._control = region.plain[_CONTROL[0]][_CONTROL[1]]
        self._documents = documents
        self.ids: LRUCache[str, bytes] = LRUCache(size)

    def known(self, tenant_id: str) -> bool:
        """Whether the tenant's key id is cached (no database access)."""
        return tenant_id in self.ids

    def remember(self, tenant_id: str, key_id: bytes) -> None:
        """Cache *key_id* for *tenant_id*: a key this process made and bound itself."""
        self.ids[tenant_id] = key_id

    async def get(self, tenant_id: str) -> bytes | None:
        found = self.ids.get(tenant_id)
        if found is not None:
            return found
        control = await self._control.find_one({"_id": tenant_id}, {"keyId": 1, "keyMac": 1})
        return await self._bind(tenant_id, control)

    async def control_record(self, tenant_id: str) -> dict[str, Any] | None:
        """The tenant's whole control record; the first time, the key id it holds is checked
        too (a first request needs both)."""
        control = await self._control.find_one({"_id": tenant_id})
        if not self.known(tenant_id):
            await self._bind(tenant_id, control)
        return control

    async def _key(self, tenant_id: str, control: Mapping[str, Any]) -> bytes | None:
        """The key the control record names, if the vault's document of it names the tenant.

        By ``_id`` (an index lookup on every server); a record without ``keyId`` (written
        before the record held it) is looked up by key alt name (a scan on FerretDB)."""
        key_id = control.get("keyId")
        if key_id is None:
            doc = await self._vault.find_one({"keyAltNames": tenant_id})
        else:
            doc = await self._vault.find_one({"_id": key_id})
            if doc is not None and tenant_id not in doc.get("keyAltNames", ()):
                # Its alt names were rewritten in the vault: refused like a failing MAC.
                log.error("refused the data key of %s: its key alt names were changed", tenant_id)
                if self._documents.on_refused is not None:
                    self._documents.on_refused("data_key")
                return None
        if doc is None:
            return None  # no key (yet, or purged): nothing can be decrypted for it
        for fetch in self._fetches:
            fetch.prime(doc)  # libmongocrypt asks for it next: no second read
        key = doc["_id"]
        return key.bytes if hasattr(key, "bytes") else bytes(key)

    async def _bind(self, tenant_id: str, control: Mapping[str, Any] | None) -> bytes | None:
        if control is None:
            return None
        found = await self._key(tenant_id, control)
        if found is None:
            return None
        binding = {**key_binding(tenant_id, found), MAC_FIELD: control.get("keyMac")}
        if not self._documents.verify(database_name(tenant_id), "data_key", binding):
            return None  # not this tenant's key: nothing is decrypted for it (not cached)
        self.ids[tenant_id] = found
        return found


def key_id_of(value: Binary) -> bytes | None:
    """The data key a FLE1 ciphertext names, or None if it is not one."""
    if value.subtype != ENCRYPTED or len(value) < 17 or value[0] not in _FLE1:
        return None
    return bytes(value[1:17])


def _ciphertexts(value: dict[str, Any], found: list[Binary]) -> list[Binary]:
    """Every subtype-6 value in *value*, nested documents and arrays included (a loop over
    containers, not a call per value: this runs over every reply)."""
    stack: list[Any] = [value.values()]
    while stack:
        for item in stack.pop():
            kind = type(item)
            if kind is Binary:
                if item.subtype == ENCRYPTED:
                    found.append(item)
            elif kind is dict:
                stack.append(item.values())
            elif kind is list:
                stack.append(item)
    return found


def _foreign(values: list[Binary], key: bytes | None) -> list[Binary]:
    return [v for v in values if key is None or key_id_of(v) != key]


def _records(reply: Mapping[str, Any], key: bytes | None) -> list[str]:
    """The ids of the documents in *reply* that hold a foreign value (for the message)."""
    cursor = reply.get("cursor")
    docs: Any = []
    if isinstance(cursor, Mapping):
        docs = cursor.get("firstBatch", cursor.get("nextBatch", []))
    elif isinstance(reply.get("value"), Mapping):
        docs = [reply["value"]]
    ids: list[str] = []
    for doc in docs if isinstance(docs, list) else []:
        if isinstance(doc, dict) and _foreign(_ciphertexts(doc, []), key):
            ident = str(doc.get("_id"))
            ids.append(ident if _ID.match(ident) else "?")
    return ids


Decrypt = Callable[[bytes | memoryview], Any]


class KeyCheck:
    """Wraps a region's per-reply decryption: only the scoped tenant's key is decrypted."""

    def __init__(
        self,
        region: RegionClient,
        decrypt: Decrypt,
        on_refused: Callable[[str], None] | None,
        documents: DocumentAuthenticator,
        size: int = TENANT_CACHE_SIZE,
    ) -> None:
        self.region = region.name
        #: Authenticates the documents the gateway trusts for access (the region's control
        #: records too); installed with the check, by the store.
        self.documents = documents
        self.keys = KeyIds(region, documents, size)
        self.on_refused = on_refused
        self._decrypt = decrypt
        #: Decryption contexts opened (replies handed to libmongocrypt), for tests and bench.
        self.contexts = 0

    async def __call__(self, response: bytes | memoryview) -> bytes | None:
        reply = bson.decode(response, _RAW)
        values = _ciphertexts(reply, [])
        if not values:
            return bytes(response)  # nothing to decrypt: libmongocrypt is not needed
        tenant = _TENANT.get()
        key = None if tenant is None else await self.keys.get(tenant)
        if bad := _foreign(values, key):
            self._refuse(tenant, reply, key, bad)
        self.contexts += 1
        # The region and a count: no value, no key id.
        with span("decrypt", {"enclave.region": self.region, "enclave.values": len(values)}):
            return await self._decrypt(response)  # type: ignore[no-any-return]

    def _refuse(
        self, tenant: str | None, reply: Mapping[str, Any], key: bytes | None, bad: list[Binary]
    ) -> NoReturn:
        records = _records(reply, key)
        foreign = sorted({(key_id_of(b) or b"?").hex() for b in bad})
        # Ids and key ids only: never a value, never ciphertext.
        log.error(
            "refused to decrypt in region %s for tenant %s: %d value(s) not under its data key "
            "(key ids %s; records %s)",
            self.region,
            tenant or "(none)",
            len(bad),
            ",".join(foreign) or "-",
            ",".join(records) or "-",
        )
        if self.on_refused is not None:
            self.on_refused(self.region)
        raise DataIntegrityError(
            "stored data failed an integrity check: a value is not encrypted under this "
            "tenant's key; nothing of it was decrypted",
            records=records,
        )


def install(
    region: RegionClient,
    documents: DocumentAuthenticator,
    on_refused: Callable[[str], None] | None = None,
    size: int = TENANT_CACHE_SIZE,
) -> KeyCheck:
    """Check every reply *region*'s data client decrypts (idempotent); see the module doc.
    *documents* checks the binding of each tenant to its data key; the key ids of *size*
    tenants are kept."""
    encrypter = getattr(region.data, "_encrypter", None)
    decrypt = getattr(encrypter, "decrypt", None)
    if isinstance(decrypt, KeyCheck):
        if on_refused is not None:
            decrypt.on_refused = on_refused
        return decrypt
    if decrypt is None or not inspect.iscoroutinefunction(decrypt):
        # Refuse to run rather than decrypt unchecked.
        raise RuntimeError(
            "PyMongo's AsyncMongoClient._encrypter.decrypt is gone: update decryption.py"
        )
    check = KeyCheck(region, decrypt, on_refused, documents, size)
    encrypter.decrypt = check  # type: ignore[union-attr]
    return check


def installed(region: RegionClient) -> KeyCheck:
    decrypt = getattr(getattr(region.data, "_encrypter", None), "decrypt", None)
    if not isinstance(decrypt, KeyCheck):
        raise RuntimeError(f"no key check installed on region {region.name}")
    return decrypt


async def decrypt_blob(region: RegionClient, blob: bytes) -> Any:
    """One ciphertext (e.g. an idempotent answer), checked like a reply, in the current scope."""
    check = installed(region)
    plain = await check(bson.encode({"v": Binary(blob, ENCRYPTED)}))
    if plain is None:  # pragma: no cover - libmongocrypt always answers
        raise DataIntegrityError("a stored value could not be decrypted")
    return bson.decode(plain, CODEC_OPTIONS)["v"]
