"""libmongocrypt's key fetch, served by ``_id`` equality finds.

When libmongocrypt needs data keys it hands PyMongo's encryption IO (``_EncryptionIO`` in
``pymongo/asynchronous/encryption.py``, one per encrypting client and one per
``AsyncClientEncryption``) a filter, ``{$or: [{_id: {$in: [ids]}}, {keyAltNames: {$in:
[names]}}]}``, and its ``fetch_keys`` runs it as one find on the key vault. FerretDB's SQLite
backend answers that find from no index: it reads every key of the region (one per tenant).
Enclave names keys by id only (``FieldCodec``, ``KeyIds``), so the filter almost always has
no alt names: :func:`install` replaces ``fetch_keys`` on one IO object with :class:`KeyFetch`,
which then finds each id by ``_id`` equality instead (at once; an index lookup on every
server), through the same collection (same codec, read concern, session-less) and yields the
same documents, in the order of the ids asked for. Any other filter shape (alt names, a
changed libmongocrypt) goes to the original ``fetch_keys`` unchanged. Keys are not checked
here: the key vault is the database's, and which key a tenant may use is decided by
``storage.mongo.decryption``.

A cold tenant's key document has just been read by the gateway's own key check
(``KeyIds``) when libmongocrypt asks for it: :meth:`KeyFetch.prime` hands that document
over, and the next fetch of its id within :data:`PRIMED_SECONDS` takes it (once) instead of
reading it again. It is the document the vault returned moments before, which libmongocrypt
would have read itself; after that (or past the deadline) keys are read again.

Private PyMongo API: the IO objects' ``fetch_keys`` and ``key_vault_coll``.
:func:`install` refuses to start if they are missing, and ``tests/test_key_fetch.py`` fails
if libmongocrypt stops asking through them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

import bson
from bson.binary import Binary
from bson.raw_bson import RawBSONDocument

__all__ = ["PRIMED_SECONDS", "KeyFetch", "ids_asked", "install"]

#: How long a key document handed over by :meth:`KeyFetch.prime` may stand in for a read.
PRIMED_SECONDS = 2.0

Fetch = Callable[[bytes], AsyncGenerator[Any, None]]


def ids_asked(filter: bytes) -> list[Binary] | None:
    """The key ids of a filter of exactly the shape ``{$or: [{_id: {$in: [ids]}},
    {keyAltNames: {$in: []}}]}`` (ids binary, at least one), else None."""
    query = bson.decode(filter)
    clauses = query.get("$or")
    if len(query) != 1 or not isinstance(clauses, list) or len(clauses) != 2:
        return None
    by_id, by_name = clauses
    if by_name != {"keyAltNames": {"$in": []}} or list(by_id) != ["_id"]:
        return None
    wanted = by_id["_id"]
    if not isinstance(wanted, dict) or list(wanted) != ["$in"]:
        return None
    ids = wanted["$in"]
    if not isinstance(ids, list) or not ids or not all(isinstance(i, Binary) for i in ids):
        return None
    return list(dict.fromkeys(ids))  # each id once, as asked


class KeyFetch:
    """``fetch_keys`` of one encryption IO object: by ``_id`` when the filter allows it."""

    def __init__(self, io: Any) -> None:
        self._original: Fetch = io.fetch_keys
        self._io = io
        #: Filters served by ``_id`` finds, finds issued, filters passed on (tests, bench).
        self.by_id = 0
        self.finds = 0
        self.passed_on = 0
        #: Keys served from a primed document instead of a find.
        self.primed = 0
        self._primed: dict[bytes, tuple[float, RawBSONDocument]] = {}

    def prime(self, doc: RawBSONDocument) -> None:
        """*doc*, a key document just read from the vault, serves the next fetch of its id
        within :data:`PRIMED_SECONDS` (once)."""
        now = time.monotonic()
        self._primed = {k: v for k, v in self._primed.items() if v[0] > now}
        key = doc["_id"]  # a UUID or a Binary, by the codec it was read with
        self._primed[key.bytes if hasattr(key, "bytes") else bytes(key)] = (
            now + PRIMED_SECONDS,
            doc,
        )

    def _take(self, key_id: Binary) -> RawBSONDocument | None:
        until, doc = self._primed.pop(bytes(key_id), (0.0, None))
        return doc if until > time.monotonic() else None

    async def __call__(self, filter: bytes) -> AsyncGenerator[bytes | memoryview, None]:
        ids = ids_asked(filter)
        if ids is None:
            self.passed_on += 1
            async for key in self._original(filter):
                yield key
            return
        vault = self._io.key_vault_coll  # the IO's own: RawBSONDocument, majority reads
        self.by_id += 1
        primed = {bytes(key_id): self._take(key_id) for key_id in ids}
        missing = [key_id for key_id in ids if primed[bytes(key_id)] is None]
        self.primed += len(ids) - len(missing)
        self.finds += len(missing)
        found: list[RawBSONDocument | None] = await asyncio.gather(
            *(vault.find_one({"_id": key_id}) for key_id in missing)
        )
        for doc in [d for d in primed.values() if d is not None] + found:
            if doc is not None:
                yield doc.raw


def install(io: Any) -> KeyFetch:
    """Serve *io*'s key fetches by ``_id`` (idempotent); see the module doc."""
    current = getattr(io, "fetch_keys", None)
    if isinstance(current, KeyFetch):
        return current
    if current is None or getattr(io, "key_vault_coll", None) is None:
        raise RuntimeError("PyMongo's _EncryptionIO.fetch_keys is gone: update keyfetch.py")
    fetch = KeyFetch(io)
    io.fetch_keys = fetch
    return fetch
