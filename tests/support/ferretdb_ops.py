"""Generated collections and operations for the differential test of the project's FerretDB
patch (tests/test_ferretdb_patch.py): mixed `_id` types (binary ones of several subtypes among
them), `_id` equality and ranges with other filters, both sort directions, skip, limit,
projection, small batches, counts, updates, deletes."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from bson.binary import Binary
from hypothesis import strategies as st
from pymongo.collection import Collection
from pymongo.errors import PyMongoError

__all__ = [
    "TAGS",
    "TAG_VALUES",
    "TRICKY",
    "TRICKY_BINARY",
    "Op",
    "collections",
    "operations",
    "outcome",
]

#: Strings as the gateway writes them (ULIDs), short ones that share prefixes, characters JSON
#: escapes or that sort below its quote (space, "!", '"', "\\", "<", controls), NUL, non-ASCII.
ulids = st.from_regex(r"01J[0-9A-HJKMNP-TV-Z]{23}", fullmatch=True)
short_text = st.text(
    alphabet=st.sampled_from(list('ab !"\\<>&\x00\x01\x7féÿ€\u2028😀A~')), min_size=0, max_size=4
)
object_ids = st.binary(min_size=12, max_size=12).map(ObjectId)
#: Bytes of binary ids: a few shared ones, so that ids of the same bytes and another subtype meet
#: (the patch looks binary ids up by the base64 of their bytes alone), and any, empty included.
BIN_BYTES = [bytes(range(16)), b"\xfb\xff" * 8, b"ab"]
#: Key vault ids are UUIDs (subtype 4); 0 (generic, read back as bytes), 3, 6 (encrypted), 128.
binary_ids = st.builds(
    Binary,
    st.sampled_from(BIN_BYTES) | st.binary(max_size=17),
    st.sampled_from([4, 4, 4, 0, 3, 6, 128]),
)
ids: st.SearchStrategy[Any] = st.one_of(
    short_text,
    short_text,
    ulids,
    object_ids,
    binary_ids,
    binary_ids,
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.none(),
)
#: Encrypted values are BSON binary subtype 6: a few of them, so that filters match.
TAGS = [Binary(b"\x01" * 8, 6), Binary(b"\x02" * 8, 6), "plain", 7]
#: Arrays match an equality on an element (an indexed equality must still find them).
TAG_VALUES = [*TAGS, [TAGS[0], "x"], ["plain"], [], None]
fields = st.fixed_dictionaries(
    {},
    optional={
        "n": st.integers(0, 3),
        "tag": st.sampled_from(TAG_VALUES),  # indexed
        "u": st.sampled_from(TAG_VALUES),  # not indexed
        "s": short_text,
    },
)


#: Ids whose JSON text orders differently from their bytes, and one of each other type.
TRICKY: list[Any] = [
    *["a", "ab", "ab!", "ab c", "abc", 'a"b', "a\\b", "<x", "a\x00b", "a\x01", "é", "\u2028", "z"],
    *[1, 2.5, -3, None, {"k": 1}, True, ObjectId(b"\x00" * 12), ObjectId(b"\xff" * 12)],
]
#: Binary ids: UUIDs, the same bytes with other subtypes, the string of their base64 (the JSON
#: text the patch compares), an empty one, and base64 with "+", "/" and "=".
TRICKY_BINARY: list[Any] = [
    *[Binary(BIN_BYTES[0], 4), Binary(BIN_BYTES[0], 0), Binary(BIN_BYTES[0], 3)],
    *[base64.b64encode(BIN_BYTES[0]).decode(), Binary(BIN_BYTES[1], 4), Binary(BIN_BYTES[2], 128)],
    *[Binary(b"", 4), Binary(b"\x00" * 16, 4), "x"],
]


@st.composite
def collections(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Documents, each with an `_id` (a document without one gets an ObjectId, as the driver
    gives it; generated here so that both servers hold the same)."""
    docs = []
    for doc_id in draw(st.lists(st.one_of(ids, st.just(...)), min_size=2, max_size=30)):
        doc = draw(fields)
        docs.append({"_id": ObjectId() if doc_id is ... else doc_id, **doc})
    return docs


RANGE = ["$gt", "$gte", "$lt", "$lte"]
#: Filters on other fields, as the gateway sends them (equality on a plain or encrypted field).
EXTRA: list[dict[str, Any]] = [
    {},
    {"n": 1},
    {"n": {"$ne": 1}},
    {"tag": TAGS[0]},
    {"tag": "plain"},
    {"u": TAGS[0]},
    {"u": "plain"},
    {"u": "x", "tag": TAGS[0]},
    {"s": {"$gt": "a"}},
]
KINDS = ["find"] * 4 + ["count", "update", "delete"]


@dataclass(frozen=True)
class Op:
    """One operation on the collection."""

    kind: str
    filter: dict[str, Any]
    sort: int | None = None
    skip: int = 0
    limit: int = 0
    batch_size: int = 0
    projection: dict[str, int] | None = None
    value: int = 0


@st.composite
def filters(draw: st.DrawFn, known: list[Any]) -> dict[str, Any]:
    """An `_id` part (none, equality, or one or two range operators on a bound of one type)
    and an extra filter on other fields."""
    bound = st.sampled_from(known) | ids if known else ids
    query: dict[str, Any] = {}
    shape = draw(st.sampled_from(["none", "eq", "range", "range"]))
    if shape == "eq":
        query["_id"] = draw(bound)
    elif shape == "range":
        ops = draw(st.lists(st.sampled_from(RANGE), min_size=1, max_size=2, unique=True))
        query["_id"] = {op: draw(bound) for op in ops}
    extra: dict[str, Any] = draw(st.sampled_from(EXTRA))
    return {**query, **extra}


@st.composite
def operations(draw: st.DrawFn, docs: list[dict[str, Any]]) -> list[Op]:
    known = [d["_id"] for d in docs]
    ops = []
    for kind in draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=8)):
        query = draw(filters(known))
        if kind == "find":
            ops.append(
                Op(
                    kind,
                    query,
                    sort=draw(st.sampled_from([1, -1, 1, -1, 1, -1, None])),
                    skip=draw(st.sampled_from([0, 0, 1, 3])),
                    limit=draw(st.sampled_from([0, 0, 1, 2, 5])),
                    batch_size=draw(st.sampled_from([0, 1, 2, 3])),
                    projection=draw(st.sampled_from([None, {"n": 1}, {"tag": 0}])),
                )
            )
        else:
            suffix = draw(st.sampled_from(["_one", "_many"]))
            ops.append(Op(kind + suffix, query, value=draw(st.integers(0, 9))))
    return ops


def _key(doc: dict[str, Any]) -> str:
    return repr(sorted(doc.items(), key=lambda kv: kv[0]))


def outcome(coll: Collection[dict[str, Any]], op: Op) -> Any:
    """What *op* returns on *coll*; an error is an outcome too (its code)."""
    try:
        if op.kind == "find":
            cursor = coll.find(op.filter, op.projection, skip=op.skip, limit=op.limit)
            if op.sort is not None:
                cursor = cursor.sort("_id", op.sort)
            if op.batch_size:
                cursor = cursor.batch_size(op.batch_size)
            found = list(cursor)
            # Without a sort the order is the server's to choose; with one it must agree.
            return found if op.sort is not None or op.skip or op.limit else sorted(found, key=_key)
        if op.kind == "count":
            return coll.count_documents(op.filter)
        if op.kind.startswith("update"):
            update = {"$set": {"n": op.value}}
            many = op.kind.endswith("many")
            changed = (coll.update_many if many else coll.update_one)(op.filter, update)
            return changed.matched_count, changed.modified_count
        deleted = (coll.delete_many if op.kind.endswith("many") else coll.delete_one)(op.filter)
        return deleted.deleted_count
    except PyMongoError as exc:  # the error is compared, not hidden
        return ("error", getattr(exc, "code", type(exc).__name__))
