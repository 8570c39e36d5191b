"""Filling a compiled plan's tables with records: the response objects, key by key."""

from __future__ import annotations

from collections.abc import Mapping

from resolvers.compiled.plan import ObjectTable, Shape
from storage.values import Page, Record

__all__ = ["connection", "project"]


def project(table: ObjectTable, record: Record, values: Mapping[str, object]) -> dict[str, object]:
    return {key: get(record, values) for key, get in table}


def connection(shape: Shape, page: Page, values: list[dict[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    records = page.records
    for key, kind, arg in shape:
        if kind == "typename":
            out[key] = arg
        elif kind == "nodes":
            out[key] = [project(arg, r, v) for r, v in zip(records, values, strict=True)]
        elif kind == "edges":
            out[key] = [
                _edge(arg, cursor, r, v)
                for cursor, r, v in zip(page.cursors, records, values, strict=True)
            ]
        else:  # pageInfo
            info: dict[str, object] = {}
            for k, what, serialize in arg:
                if what == "typename":
                    info[k] = serialize
                elif what == "hasNextPage":
                    info[k] = serialize(page.has_next_page)
                else:
                    info[k] = None if page.end_cursor is None else serialize(page.end_cursor)
            out[key] = info
    return out


def _edge(shape: Shape, cursor: str, record: Record, values: Mapping[str, object]) -> object:
    edge: dict[str, object] = {}
    for key, kind, arg in shape:
        if kind == "typename":
            edge[key] = arg
        elif kind == "cursor":
            edge[key] = arg(cursor)
        else:
            edge[key] = project(arg, record, values)
    return edge
