"""Telling the people a breach concerns (GDPR Art. 34): who they are, how to reach them, and
what to tell them.

The list of affected data subjects, with only the email addresses their records hold, is an
export job like any other (``startBreachNotificationExport``): started by an admin whose export
permission is on and whose roles may export those fields, downloaded once through a signed,
expiring link (gateway.endpoints.exports), audited at start, download and end, every record
given in the access log. The job holds what was compromised and the window (ids and times,
the window's end fixed at start), and the impact is measured again at download under the
downloader's policy then: the list is never stored.

The notification text holds the window and the data categories concerned, never a value of a
record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

import orjson

from resolvers.authz.policy import Policy
from resolvers.authz.scopes import ReadPlan, fetch_fields
from resolvers.breach.categories import DESCRIPTIONS, email_fields, likely_consequences
from resolvers.breach.impact import measure_impact
from resolvers.breach.values import Impact
from resolvers.context import Principal
from resolvers.exportstream import Given, csv_lines, export_plan
from schema.datasheets import DATASHEETS, DataCategory
from schema.errors import ForbiddenError
from storage.base import TenantStore
from storage.values import Compromised, ExportJob

__all__ = [
    "NOTIFICATION",
    "NOTIFICATION_COLUMNS",
    "notification_chunks",
    "notification_of",
    "notification_plans",
    "notification_text",
    "notification_window",
]

#: What a notification list's export job names as its datasheet (it spans every datasheet).
NOTIFICATION = "breachNotification"
#: Its columns: the record's datasheet and id, then every email field of any datasheet.
NOTIFICATION_COLUMNS: tuple[str, ...] = (
    "datasheet",
    "id",
    *dict.fromkeys(name for sheet in DATASHEETS.values() for name in email_fields(sheet)),
)
_CHUNK_RECORDS = 200


def notification_plans(policy: Policy, principal: Principal) -> dict[str, ReadPlan]:
    """The read plan of each datasheet's email fields, as the caller may export them;
    ``FORBIDDEN`` unless the caller is an admin, their export permission is on and their
    roles may export those fields."""
    if not policy.admin:
        raise ForbiddenError("only admins notify the people a breach concerns")
    return {
        name: export_plan(policy, sheet, email_fields(sheet), (), principal.user_id)
        for name, sheet in DATASHEETS.items()
        if email_fields(sheet)
    }


def notification_of(
    compromised: Sequence[Compromised], since: dt.datetime, until: dt.datetime
) -> dict[str, Any]:
    """What a notification job keeps: ids and times, as JSON values (they are audited)."""
    return {
        "compromised": [{"kind": c.kind, "id": c.id} for c in compromised],
        "since": since.isoformat(),
        "until": until.isoformat(),
    }


def notification_window(
    notification: Mapping[str, Any],
) -> tuple[tuple[Compromised, ...], dt.datetime, dt.datetime]:
    """What :func:`notification_of` kept, back as values."""
    compromised = tuple(
        Compromised(kind=c["kind"], id=c["id"]) for c in notification["compromised"]
    )
    since = dt.datetime.fromisoformat(notification["since"])
    until = dt.datetime.fromisoformat(notification["until"])
    return compromised, since, until


async def notification_chunks(
    store: TenantStore, job: ExportJob, plans: Mapping[str, ReadPlan], given: Given
) -> AsyncGenerator[bytes]:
    """The list's bytes: a row per affected record that still exists (datasheet, id and the
    email fields the caller may see, masked where their roles mask them), a chunk per few
    hundred records; *given* is told each chunk's records before it is handed on."""
    assert job.notification is not None
    impact = await measure_impact(store, *notification_window(job.notification))
    header = b""
    if job.format == "csv":
        header = csv_lines([NOTIFICATION_COLUMNS])
    sent = False
    for part in impact.sheets:
        plan = plans.get(part.datasheet)
        if plan is None:  # a sheet with no email field (or not a datasheet: users, audit)
            continue
        sheet = DATASHEETS[part.datasheet]
        fetch = fetch_fields(plan, sheet)
        for start in range(0, len(part.records), _CHUNK_RECORDS):
            rows: list[dict[str, object]] = []
            for record_id in part.records[start : start + _CHUNK_RECORDS]:
                record = await store.records.get(sheet, record_id, fetch, scope=plan.scope)
                if record is None:  # deleted or erased since
                    continue
                values, _ = plan.shown(sheet, record)
                rows.append({"datasheet": sheet.name, "id": record.id, **values})
            if not rows:
                continue
            given(sheet.name, sorted(plan.fields), [str(r["id"]) for r in rows])
            yield header + _lines(job, rows)
            header, sent = b"", True
    if not sent and header:
        given("", (), ())
        yield header


def _lines(job: ExportJob, rows: list[dict[str, object]]) -> bytes:
    if job.format == "csv":
        return csv_lines([[r.get(c) for c in NOTIFICATION_COLUMNS] for r in rows])
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)


def notification_text(impact: Impact) -> str:
    """The notification to send to each person concerned: what happened, when, which kinds
    of data, the likely consequences, what was done, what they can do. Plain text; the
    categories and the window only, no value of any record."""
    named = {DataCategory(c) for c in impact.categories if c in _KNOWN}
    categories = [DESCRIPTIONS[c] for c in DataCategory if c in named]
    consequences = likely_consequences(impact.categories)
    lines = [
        "Subject: A personal data breach that concerns you",
        "",
        "We are writing to tell you about a personal data breach that concerns data we hold "
        "about you.",
        "",
        "What happened: between "
        f"{_when(impact.since)} and {_when(impact.until)} (UTC), access to our records was "
        "used by someone who should not have had it.",
        "",
        "The data concerned: "
        + ("; ".join(categories) if categories else "records we hold about you")
        + ".",
        "",
        "Likely consequences: "
        + ("; ".join(consequences) if consequences else "disclosure of the details concerned")
        + ".",
        "",
        "What we have done: we ended the access that was misused (its sign-in sessions, keys "
        "and download links), reported the breach to the supervisory authority where required, "
        "and are reviewing how it happened.",
        "",
        "What you can do: be wary of unexpected messages that mention these details or ask you "
        "to act quickly, and never share passwords or codes in reply to them.",
        "",
        "Questions: reply to this message to reach our data protection contact.",
    ]
    return "\n".join(lines) + "\n"


_KNOWN = frozenset(c.value for c in DataCategory)


def _when(at: dt.datetime) -> str:
    at = at.astimezone(dt.UTC) if at.tzinfo else at
    return at.strftime("%Y-%m-%d %H:%M")
