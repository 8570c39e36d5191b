"""What an export may contain, and its bytes, produced as records stream from the database.

``export_plan`` is the GraphQL API's own read plan (resolvers.authz.scopes.read_plan) over the
grants that allow export: forbidden fields are never fetched nor decrypted, row filters
are part of the database query, masked fields are masked record by record. So an export
can never show more than the same caller could page through with ``employees(...)``.

``export_chunks`` turns the store's record stream into NDJSON or CSV a few hundred
records at a time: memory is one database batch plus one chunk, however big the export.
CSV columns are ``id``, the datasheet's fields in declaration order, then ``version``,
``archived``, ``createdAt``, ``updatedAt``; a text cell that a spreadsheet would take for
a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, also after
leading whitespace) is prefixed with ``'`` so that it is shown as text; so is every such
line of a multi-line value, which a careless import may split into cells of their own.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from dataclasses import replace

import orjson

from resolvers.authz.policy import Policy, SheetPolicy
from resolvers.authz.scopes import ReadPlan, fetch_fields, read_plan
from schema.datasheets import Datasheet
from schema.errors import BadUserInputError, ForbiddenError
from storage.base import TenantStore
from storage.values import ExportJob, Record

__all__ = [
    "META_COLUMNS",
    "Given",
    "columns",
    "csv_lines",
    "escape_cell",
    "export_chunks",
    "export_plan",
]

META_COLUMNS = ("version", "archived", "createdAt", "updatedAt")
_CONTROL_START = ("\t", "\r")
#: A line that starts, maybe after whitespace (not line breaks), with a formula character.
_FORMULA_LINE = re.compile(r"(^|[\r\n])([^\S\r\n]*[=+\-@])")
_CHUNK_RECORDS = 200

#: Told each chunk's datasheet, fields and record ids as the chunk is made (a download sends
#: chunks in the order they are made: gateway.endpoints.exports).
Given = Callable[[str, Sequence[str], Sequence[str]], None]


def _exporting(grant: SheetPolicy) -> SheetPolicy:
    """The datasheet policy made only of the caller's roles that may export it."""
    grants = tuple(g for g in grant.grants if g.export)
    read = frozenset().union(*(g.read for g in grants))
    return replace(
        grant,
        read=read,
        mask=frozenset().union(*(g.mask for g in grants)) - read,
        grants=grants,
    )


def export_plan(
    policy: Policy,
    sheet: Datasheet,
    fields: Sequence[str] | None,
    filtered: Iterable[str],
    caller: str,
) -> ReadPlan:
    """The read plan of an export of *fields* (default: every field the caller may see)
    filtered by *filtered*; ``FORBIDDEN`` unless the caller may export this datasheet."""
    if not policy.can_export:
        raise ForbiddenError("your export permission is off", field="startExport")
    grant = policy.sheet(sheet.name)
    if grant is None or not any(g.export for g in grant.grants):
        raise ForbiddenError(f"you may not export {sheet.name}", field=sheet.name)
    exporting = _exporting(grant)
    if fields is None:
        fields = [f.name for f in sheet.fields if f.name in exporting.visible]
    for name in fields:
        if name not in sheet.by_name:
            raise BadUserInputError(f"{sheet.name} has no such field", field="fields")
    if not fields:
        raise BadUserInputError("an export needs at least one field", field="fields")
    return read_plan(sheet, exporting, fields, caller, full=frozenset(filtered))


def columns(sheet: Datasheet, plan: ReadPlan) -> list[str]:
    """The export's columns: id, the planned fields in declaration order, the metadata."""
    return ["id", *(f.name for f in sheet.fields if f.name in plan.fields), *META_COLUMNS]


def escape_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, dt.date) else str(value)
    if isinstance(value, str):
        text = _FORMULA_LINE.sub(r"\1'\2", text)
        if text.startswith(_CONTROL_START):
            text = "'" + text
    return text


def _row(sheet: Datasheet, plan: ReadPlan, record: Record) -> dict[str, object]:
    values, _ = plan.shown(sheet, record)
    return {
        "id": record.id,
        **values,
        "version": record.version,
        "archived": record.archived,
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
    }


def csv_lines(rows: Iterable[Sequence[object]]) -> bytes:
    """CSV lines of *rows*, every cell escaped (escape_cell)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows([escape_cell(v) for v in row] for row in rows)
    return out.getvalue().encode()


async def export_chunks(
    store: TenantStore,
    sheet: Datasheet,
    job: ExportJob,
    plan: ReadPlan,
    on_records: Callable[[Sequence[str]], None],
    read_deadline: float | None = None,
) -> AsyncGenerator[bytes]:
    """The export's bytes, a chunk per few hundred records; *on_records* is told the ids of
    each chunk's records before it is sent (the access log, the row count)."""
    header = columns(sheet, plan)
    # The CSV header goes out with the first records: the first chunk is the first read.
    pending = csv_lines([header]) if job.format == "csv" else b""
    batch: list[dict[str, object]] = []

    def chunk() -> bytes:
        nonlocal pending
        on_records([str(r["id"]) for r in batch])
        head, pending = pending, b""
        if job.format == "csv":
            return head + csv_lines([[r.get(c) for c in header] for r in batch])
        return head + b"".join(orjson.dumps(r) + b"\n" for r in batch)

    async for record in store.records.stream(
        sheet,
        fetch_fields(plan, sheet),
        after=job.after,
        equals=job.equals,
        include_archived=job.include_archived,
        scope=plan.scope,
        read_deadline=read_deadline,
    ):
        batch.append(_row(sheet, plan, record))
        if len(batch) >= _CHUNK_RECORDS:
            yield chunk()
            batch = []
    if batch or pending:
        yield chunk()
