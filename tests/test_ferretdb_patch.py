"""The project's FerretDB patch (scripts/ferretdb/index-pushdown.patch) against the unpatched
build: generated finds, counts, updates and deletes give the same results and leave the same
collections, and `_id` lookups use the `_id` index."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from bson.binary import Binary
from hypothesis import HealthCheck, Phase, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.errors import PyMongoError

from gateway.dev.processes import ChildProcess, free_port
from gateway.dev.servers import ferretdb
from gateway.settings import Settings
from tests.support.ferretdb_ops import (
    TAG_VALUES,
    TAGS,
    TRICKY,
    TRICKY_BINARY,
    Op,
    collections,
    operations,
    outcome,
)
from tests.support.servers import EXTERNAL

pytestmark = pytest.mark.skipif(EXTERNAL, reason="the suite runs on external servers, not FerretDB")

Pair = tuple[Collection[dict[str, Any]], Collection[dict[str, Any]]]


@pytest.fixture(scope="module")
def stock_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChildProcess]:
    """FerretDB built without the patch (scripts/bootstrap caches it)."""
    binary = os.environ.get("ENCLAVE_FERRETDB_STOCK_BIN", "")
    if not Path(binary).is_file():
        pytest.fail("ENCLAVE_FERRETDB_STOCK_BIN is not set to a binary: source scripts/bootstrap")
    server = ferretdb("stock", tmp_path_factory.mktemp("stock"), free_port(), binary=binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def pair(settings: Settings, stock_server: ChildProcess) -> Iterator[Pair]:
    """The same collection on the suite's (patched) server and on the unpatched one."""
    patched: MongoClient[dict[str, Any]] = MongoClient(settings.eu.mongodb_uri.get_secret_value())
    stock: MongoClient[dict[str, Any]] = MongoClient(f"mongodb://127.0.0.1:{stock_server.port}/")
    try:
        yield patched["patchdiff"]["c"], stock["patchdiff"]["c"]
    finally:
        patched.close()
        stock.close()


def _load(coll: Collection[dict[str, Any]], docs: list[dict[str, Any]]) -> list[bool]:
    coll.drop()
    coll.database.create_collection(coll.name)
    coll.create_index("tag")
    inserted = []
    for doc in docs:
        try:
            coll.insert_one(dict(doc))
            inserted.append(True)
        except PyMongoError:
            inserted.append(False)
    return inserted


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[Any]]:
    docs = draw(collections())
    return docs, draw(operations(docs))


@hypothesis_settings(
    max_examples=int(os.environ.get("ENCLAVE_PATCH_EXAMPLES", "100")),
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(scenario=scenarios())
@example(
    scenario=(
        [
            {"_id": i, "n": k % 3, "tag": TAG_VALUES[k % 6], "u": TAG_VALUES[k % 7]}
            for k, i in enumerate(TRICKY)
        ],
        [Op("find", {}, sort=1), Op("find", {"n": 1}, sort=-1, batch_size=2)]
        + [Op("find", {f: TAGS[0]}, sort=1) for f in ("tag", "u")]
        + [Op("find", {f: "plain"}, sort=-1) for f in ("tag", "u")]
        + [Op("find", {"_id": {op: "ab"}}, sort=d) for op in ("$gt", "$lte") for d in (1, -1)]
        + [Op("find", {"_id": {"$gte": "a", "$lt": "b"}, "n": {"$ne": 1}}, sort=-1, skip=1)],
    )
)
@example(
    scenario=(
        [{"_id": i, "n": k % 3, "tag": TAG_VALUES[k % 6]} for k, i in enumerate(TRICKY_BINARY)],
        [Op("find", {"_id": i}) for i in TRICKY_BINARY]
        + [Op("find", {"_id": TRICKY_BINARY[0], "n": 0}, projection={"n": 1})]
        + [Op("count", {"_id": i}) for i in TRICKY_BINARY[:4]]
        + [Op("update_one", {"_id": i}, value=9) for i in TRICKY_BINARY[1:5]]
        + [Op("update_many", {"_id": TRICKY_BINARY[0], "n": {"$ne": 5}}, value=5)]
        + [Op("find", {"_id": {"$gte": TRICKY_BINARY[0]}}, sort=1)]
        + [Op(k, {"_id": i}) for k in ("delete_one", "delete_many") for i in TRICKY_BINARY[::2]]
        + [Op("find", {}, sort=-1)],
    )
)
def test_patched_server_answers_as_the_unpatched_one(
    pair: Pair, scenario: tuple[list[dict[str, Any]], list[Any]]
) -> None:
    docs, ops = scenario
    patched, stock = pair
    assert _load(patched, docs) == _load(stock, docs)
    for op in ops:
        assert outcome(patched, op) == outcome(stock, op), op
    assert list(patched.find()) == list(stock.find())


def test_id_lookups_use_the_id_index(pair: Pair) -> None:
    """A find by `_id` with other conditions (what the gateway's reads and versioned writes
    send) searches the `_id` index; the unpatched server scans the table."""
    patched, stock = pair
    for coll in pair:
        _load(coll, [{"_id": str(ObjectId()), "_v": 1} for _ in range(20)])
    plan = patched.database.command(
        "explain", {"find": patched.name, "filter": {"_id": "x", "_v": 1}}
    )["queryPlanner"]["Plan"]
    assert any("USING INDEX" in line and "_id_" in line for line in plan), plan
    stock_plan = stock.database.command(
        "explain", {"find": stock.name, "filter": {"_id": "x", "_v": 1}}
    )["queryPlanner"]["Plan"]
    assert not any("USING INDEX" in line for line in stock_plan), stock_plan


def test_binary_id_lookups_use_the_id_index_and_find_the_id(pair: Pair) -> None:
    """A key vault read by its UUID `_id` (binary subtype 4) searches the `_id` index and finds
    the key, not the same bytes of another subtype; the unpatched server scans the table."""
    patched, stock = pair
    key_ids = [Binary(uuid.uuid4().bytes, 4) for _ in range(20)]
    twin = Binary(key_ids[3], 0)
    for coll in pair:
        _load(coll, [{"_id": i, "n": k} for k, i in enumerate(key_ids)])
    query = {"find": patched.name, "filter": {"_id": key_ids[3], "n": {"$gte": 0}}}
    plan = patched.database.command("explain", query)["queryPlanner"]["Plan"]
    assert any("USING INDEX" in line and "_id_" in line for line in plan), plan
    stock_plan = stock.database.command("explain", query)["queryPlanner"]["Plan"]
    assert not any("USING INDEX" in line for line in stock_plan), stock_plan
    assert list(patched.find({"_id": key_ids[3]})) == [{"_id": key_ids[3], "n": 3}]
    assert list(patched.find({"_id": twin})) == []
    assert patched.delete_one({"_id": key_ids[4]}).deleted_count == 1
    assert patched.count_documents({}) == 19
