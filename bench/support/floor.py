"""The read-path floor: the measured list query, and the same find through the raw driver,
shaped as the gateway's JSON.

``python -m bench.support.floor --port P`` serves that floor over HTTP (uvicorn, as ``enclave
serve`` runs the gateway) with settings from the ``ENCLAVE_`` environment and the tenant in
``BENCH_TENANT_ID``: it reads the request body, ignores it, and answers with the floor's
JSON for a page of ``?page=N`` records (default 50; ``&fields=plain``: the plaintext
selection). It authenticates nothing and parses no GraphQL: it is only a floor to compare
with.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
from pymongo.asynchronous.collection import AsyncCollection

__all__ = [
    "FIELDS",
    "FILTER",
    "PAGE",
    "PLAIN_FIELDS",
    "PROJECTION",
    "QUERY",
    "Collection",
    "floor_body",
    "http_floor_app",
    "list_query",
    "projection",
]

#: The page size and selection of the measured list query: 10 fields, of which
#: firstName, lastName and workEmail are encrypted; the other seven are plaintext.
PAGE = 50
#: The datasheet fields the query selects, in the order the floor emits them.
FIELDS = ("firstName", "lastName", "workEmail", "jobTitle", "department", "startDate", "status")
#: A selection without encrypted fields (nothing to decrypt): 7 fields with the meta ones.
PLAIN_FIELDS = ("jobTitle", "department", "startDate", "status")


def list_query(page: int, fields: Sequence[str] = FIELDS) -> str:
    """The measured list query, for a page of *page* records."""
    return (
        f"query {{ employees(first: {page}) {{ nodes {{ id {' '.join(fields)} "
        "version archived } } }"
    )


def projection(fields: Sequence[str]) -> dict[str, int]:
    """The projection of the find the gateway runs for a selection of *fields* (see
    storage.mongo.records): the record meta fields plus the selected datasheet fields."""
    meta = {"_v": 1, "_archived": 1, "_created": 1, "_updated": 1, "_owner": 1}
    return {**meta, **dict.fromkeys(fields, 1)}


QUERY = list_query(PAGE)
PROJECTION: dict[str, int] = projection(FIELDS)
FILTER: dict[str, Any] = {"_archived": {"$ne": True}}

Collection = AsyncCollection[dict[str, Any]]


async def floor_body(
    collection: Collection, page: int = PAGE, fields: Sequence[str] = FIELDS
) -> bytes:
    """The floor of one list request: find, auto-decrypt, shape as the gateway's JSON."""
    cursor = collection.find(FILTER, projection(fields), sort=[("_id", 1)], limit=page + 1)
    docs = await cursor.to_list(length=page + 1)
    nodes = [
        {
            "id": doc["_id"],
            **{name: doc.get(name) for name in fields},
            "version": int(doc["_v"]),
            "archived": bool(doc.get("_archived", False)),
        }
        for doc in docs[:page]
    ]
    return orjson.dumps({"data": {"employees": {"nodes": nodes}}})


# -- the HTTP floor server --------------------------------------------------------------------


def http_floor_app() -> Any:
    """A Starlette app answering POST /graphql with the floor's JSON (see the module doc)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from gateway.settings import Settings
    from regions.clients import RegionClient
    from regions.routing import database_name

    tenant_id = os.environ["BENCH_TENANT_ID"]
    settings = Settings()
    region = RegionClient.from_config("eu", settings.eu)
    collection: Collection = region.data[database_name(tenant_id)]["employees"]

    async def graphql(request: Request) -> Response:
        await request.body()
        page = int(request.query_params.get("page", PAGE))
        fields = PLAIN_FIELDS if request.query_params.get("fields") == "plain" else FIELDS
        body = await floor_body(collection, page, fields)
        return Response(body, media_type="application/json")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await region.aclose()

    return Starlette(
        routes=[Route("/graphql", graphql, methods=["POST"]), Route("/healthz", healthz)],
        lifespan=lifespan,
    )


def main(argv: Sequence[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Serve the read-path floor over HTTP.")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    # As `enclave serve` runs the gateway.
    uvicorn.run(
        http_floor_app(), host="127.0.0.1", port=args.port, log_level="info", proxy_headers=False
    )


if __name__ == "__main__":
    main()
