"""``enclave export``: pull an export through the gateway's HTTP API, as an integrator does.

It starts the export with ``startExport`` (authenticated by an API key), downloads the
one-time URL and writes each record to the output file as it arrives. An export streams in
record id order and each NDJSON line or CSV row starts with the record's id, so when the
connection breaks (or the command is run again with ``--resume`` on a partial file) it
keeps what arrived complete, drops a half-written record, and starts a new export after
the last id it has, appending. Nothing is written twice and nothing is left out.
"""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import orjson
from rich.progress import Progress

__all__ = ["ExportClient", "ExportError", "RecordSplitter", "last_complete"]

START = """
mutation($datasheet: String!, $format: ExportFormat!, $filter: [ExportFilterInput!],
         $fields: [String!], $archived: Boolean!, $after: ID) {
  startExport(datasheet: $datasheet, format: $format, filter: $filter, fields: $fields,
              includeArchived: $archived, afterId: $after) { id url total columns }
}
"""


class ExportError(Exception):
    """The gateway refused the export (a message for the user, no values)."""


class RecordSplitter:
    """Cuts a byte stream into whole records: NDJSON lines, or CSV rows (a row may span
    lines inside quotes: it is whole when its quotes balance)."""

    def __init__(self, fmt: str) -> None:
        self._csv = fmt == "csv"
        self._buffer = b""
        self._pending = b""

    def feed(self, data: bytes) -> Iterator[tuple[bytes, str]]:
        """The whole records in *data* (and before it): each one's bytes and id."""
        self._buffer += data
        while (end := self._buffer.find(b"\n")) >= 0:
            line, self._buffer = self._buffer[: end + 1], self._buffer[end + 1 :]
            record = self._pending + line
            if self._csv and record.count(b'"') % 2:
                self._pending = record  # inside a quoted cell: the row goes on
                continue
            self._pending = b""
            yield record, _record_id(record, self._csv)


def _record_id(record: bytes, is_csv: bool) -> str:
    if is_csv:
        return next(csv.reader([record.decode()]))[0]
    value = orjson.loads(record)["id"]
    return str(value)


def last_complete(path: Path, fmt: str) -> tuple[int, str | None, bool]:
    """(bytes of whole records, id of the last record, whether a CSV header is there) of a
    partial output file."""
    splitter = RecordSplitter(fmt)
    size, last, header = 0, None, False
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 16):
            for record, record_id in splitter.feed(chunk):
                size += len(record)
                if fmt == "csv" and not header:
                    header = True
                else:
                    last = record_id
    return size, last, header


@dataclass
class ExportClient:
    client: httpx.Client
    api_key: str
    datasheet: str
    fmt: str = "ndjson"
    filters: dict[str, str] = field(default_factory=dict)
    fields: Sequence[str] | None = None
    include_archived: bool = False
    retries: int = 5
    backoff: float = 1.0

    def start(self, after: str | None) -> dict[str, Any]:
        variables = {
            "datasheet": self.datasheet,
            "format": self.fmt.upper(),
            "filter": [{"field": k, "value": v} for k, v in self.filters.items()] or None,
            "fields": list(self.fields) if self.fields else None,
            "archived": self.include_archived,
            "after": after,
        }
        response = self.client.post(
            "/graphql",
            json={"query": START, "variables": variables},
            headers={"x-api-key": self.api_key},
        )
        body = response.json()
        if body.get("errors"):
            error = body["errors"][0]
            code = (error.get("extensions") or {}).get("code", "ERROR")
            raise ExportError(f"{code}: {error.get('message')}")
        job: dict[str, Any] = body["data"]["startExport"]
        return job

    def run(self, output: Path, *, resume: bool = False, progress: bool = True) -> int:
        """Download into *output* (appending after its last whole record if *resume*);
        returns how many records it holds from this run."""
        after, header = None, False
        if resume and output.exists():
            size, after, header = last_complete(output, self.fmt)
            with output.open("r+b") as handle:
                handle.truncate(size)
        elif output.exists():
            raise ExportError(f"{output} exists: pass --resume to continue it")
        written, failures = 0, 0
        job = self.start(after)  # refused before any file is made
        output.touch(mode=0o600)  # personal data: for its owner only (kept if it exists)
        with output.open("ab") as out, Progress(disable=not progress) as bar:
            task = bar.add_task(f"exporting {self.datasheet}", total=None)
            while True:
                bar.update(task, total=written + int(job["total"]))
                try:
                    for record_id, count in self._download(job["url"], out, header):
                        header = True
                        after = record_id or after
                        written += count
                        bar.update(task, completed=written)
                    return written
                except (httpx.TransportError, httpx.HTTPStatusError) as exc:
                    if isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code < 500:
                        raise ExportError(_refusal(exc.response)) from None
                    failures += 1
                    if failures > self.retries:
                        raise ExportError(f"gave up after {self.retries} retries: {exc}") from exc
                    print(f"interrupted ({type(exc).__name__}); resuming", file=sys.stderr)
                    time.sleep(self.backoff * failures)
                    job = self.start(after)

    def _download(self, url: str, out: BinaryIO, header: bool) -> Iterator[tuple[str | None, int]]:
        """Write the whole records of one download; yields (last id, records) per chunk, and
        (None, 0) once the CSV header is in the file."""
        splitter = RecordSplitter(self.fmt)
        first = self.fmt == "csv"
        with self.client.stream("GET", url) as response:
            if response.status_code >= 400:
                response.read()
                response.raise_for_status()
            for data in response.iter_bytes():
                records = list(splitter.feed(data))
                if first and records:
                    first = False
                    if not header:
                        out.write(records[0][0])
                        out.flush()
                        yield None, 0
                    records = records[1:]  # the header (kept once)
                if records:
                    out.write(b"".join(r for r, _ in records))
                    out.flush()
                    yield records[-1][1], len(records)


def _refusal(response: httpx.Response) -> str:
    try:
        error = response.json()["errors"][0]
        return f"{error['extensions']['code']}: {error['message']}"
    except (ValueError, KeyError, IndexError):
        return f"HTTP {response.status_code}"
