"""Reading the servers directly, as a database operator would: plain clients, no keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import bson
from bson.binary import Binary
from pymongo import AsyncMongoClient

from gateway.settings import Settings


def plain_client(settings: Settings, region: str) -> AsyncMongoClient[dict[str, Any]]:
    config = settings.eu if region == "eu" else settings.us
    return AsyncMongoClient(config.mongodb_uri.get_secret_value(), serverSelectionTimeoutMS=3000)


async def all_documents(
    client: AsyncMongoClient[dict[str, Any]],
) -> AsyncIterator[tuple[str, str, dict[str, Any]]]:
    """Every document of every database and collection: (database, collection, document)."""
    for db_name in await client.list_database_names():
        db = client[db_name]
        for coll_name in await db.list_collection_names():
            async for doc in db[coll_name].find({}):
                yield db_name, coll_name, doc


def raw_bytes(doc: dict[str, Any]) -> bytes:
    return bson.encode(doc)


def is_ciphertext(value: object) -> bool:
    return isinstance(value, Binary) and value.subtype == 6
