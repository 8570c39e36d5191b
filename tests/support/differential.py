"""Two gateways over the same servers, one with the compiled read path and one without, and
documents for the differential tests (tests/test_compiled_reads.py)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from hypothesis import strategies as st
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.endpoints.compiled import CompiledPath
from gateway.settings import Settings
from schema.datasheets import datasheet

NAMES = [f.name for f in datasheet("employees").fields]
OBJECT_FIELDS = ["id", "version", "archived", "createdAt", "updatedAt", "__typename", *NAMES]
#: What a query may pass for `first`, `filter` and `includeArchived` (some refused).
FIRSTS = ["", "", "first: 2", "first: 5", "first: $first", "first: $first", "first: 0"]
FILTERS = [
    "",
    'filter: { department: "Sales" }',
    "filter: { status: ACTIVE }",
    "filter: $filter",
    'filter: { lastName: "Nobody" }',
]
ARCHIVED = ["", "includeArchived: true", "includeArchived: false", "includeArchived: $arch"]
VARIABLES = {
    "s": "Boolean!",
    "first": "Int",
    "filter": "EmployeeFilter",
    "arch": "Boolean!",
    "id": "ID!",
}
aliases = st.from_regex(r"[a-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
conditions = st.sampled_from(
    ["", " @include(if: true)", " @skip(if: true)", " @include(if: $s)", " @skip(if: $s)"]
)


@st.composite
def object_selection(draw: st.DrawFn, depth: int = 0, spreads: bool = True) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["field", "field", "alias", "inline", "spread"]))
        if kind == "inline" and depth < 2:
            on = draw(st.sampled_from(["... on Employee", "..."]))
            inner = draw(object_selection(depth + 1, spreads))
            parts.append(f"{on}{draw(conditions)} {{ {inner} }}")
        elif kind == "spread" and spreads:
            parts.append(f"...Bits{draw(conditions)}")
        else:
            name = draw(st.sampled_from(OBJECT_FIELDS))
            alias = f"{draw(aliases)}: " if kind == "alias" else ""
            parts.append(f"{alias}{name}{draw(conditions)}")
    return " ".join(parts)


@st.composite
def connection_selection(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["nodes", "edges", "pageInfo", "__typename"]))
        alias = draw(st.one_of(st.just(""), aliases.map(lambda a: f"{a}: ")))
        cond = draw(conditions)
        if kind == "nodes":
            parts.append(f"{alias}nodes{cond} {{ {draw(object_selection())} }}")
        elif kind == "edges":
            node = f"node {{ {draw(object_selection())} }}"
            inner = draw(st.sampled_from(["cursor", "__typename", ""]))
            parts.append(f"{alias}edges{cond} {{ {inner} {node} }}")
        elif kind == "pageInfo":
            keys = draw(
                st.lists(st.sampled_from(["hasNextPage", "endCursor", "__typename"]), min_size=1)
            )
            parts.append(f"{alias}pageInfo{cond} {{ {' '.join(keys)} }}")
        else:
            parts.append(f"{alias}__typename{cond}")
    return " ".join(parts)


@st.composite
def documents(draw: st.DrawFn, ids: list[str]) -> tuple[str, dict[str, object]]:
    roots = []
    for _ in range(draw(st.integers(1, 2))):
        alias = draw(st.one_of(st.just(""), aliases.map(lambda a: f"{a}: ")))
        if draw(st.booleans()):
            args = [draw(st.sampled_from(x)) for x in (FIRSTS, FILTERS, ARCHIVED)]
            given = ", ".join(a for a in args if a)
            head = f"employees({given})" if given else "employees"
            roots.append(f"{alias}{head} {{ {draw(connection_selection())} }}")
        else:
            ident = draw(st.sampled_from(["$id", "$id", "$id", '"01ARZ3NDEKTSV4RRFFQ69G5FAV"']))
            roots.append(f"{alias}employee(id: {ident}) {{ {draw(object_selection())} }}")
    body = " ".join(roots)
    fragment = ""
    if "...Bits" in body:
        fragment = f" fragment Bits on Employee {{ {draw(object_selection(2, False))} }}"
    used = sorted(set(re.findall(r"\$(\w+)", body + fragment)))
    header = ", ".join(f"${v}: {VARIABLES[v]}" for v in used)
    document = f"query Q{f'({header})' if header else ''} {{ {body} }}{fragment}"
    values: dict[str, object] = {
        "s": draw(st.booleans()),
        "first": draw(st.sampled_from([None, 1, 3, 500, 1, 3, -1])),
        "filter": draw(
            st.sampled_from([None, {}, {"department": "Engineering"}, {"status": "ON_LEAVE"}])
        ),
        "arch": draw(st.booleans()),
        "id": draw(st.sampled_from(ids)),
    }
    return document, {k: v for k, v in values.items() if k in used}


def compiled_path(app: Starlette) -> CompiledPath:
    """The compiled path of *app*'s /graphql endpoint."""
    for route in app.routes:
        endpoint = getattr(route, "app", None)
        while endpoint is not None:  # through the middleware of its route (gateway.app)
            path = getattr(endpoint, "compiled", None)
            if isinstance(path, CompiledPath):
                return path
            endpoint = getattr(endpoint, "app", None)
    raise AssertionError("the app has no compiled read path")


@asynccontextmanager
async def standard_gateway(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway on the same servers that runs every request through Strawberry."""
    app = create_app(settings.model_copy(update={"compiled_reads": False}), background=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client
