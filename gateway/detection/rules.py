"""The detection rules, as counts over one tenant's recent access events.

- ``reads``: a principal read more distinct records in the last hour than
  ``max(read_records, read_factor x its mean per hour over the baseline_hours before)``;
- ``exports``: a principal exported more records in the last hour than ``export_records``;
- ``probing``: a principal's requests were refused (``FORBIDDEN``/``NOT_FOUND``) more often in
  the last hour than ``refused_requests``;
- ``signins``: more accounts of the tenant than ``failed_signin_accounts`` have failed
  sign-ins in the last hour (failures spread over accounts: guessing, not one forgetful user).

Pure functions of events and thresholds: the reads and the incidents are the detector's.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from storage.values import AccessEvent, DetectionThresholds

__all__ = ["HOUR", "RULES", "Alert", "principal_alerts", "signin_alert"]

HOUR = dt.timedelta(hours=1)
RULES = ("reads", "exports", "probing", "signins")


@dataclass(frozen=True, slots=True)
class Alert:
    rule: str
    #: The principal (a user or API key id) it is about; None for ``signins``.
    principal: str | None
    observed: int
    threshold: int
    since: dt.datetime
    until: dt.datetime
    #: ``reads``: the principal's mean per hour over the baseline.
    baseline: float | None = None


def principal_alerts(
    events: Iterable[AccessEvent], limits: DetectionThresholds, now: dt.datetime
) -> list[Alert]:
    """The ``reads``, ``exports`` and ``probing`` alerts of *events* (the last hour and the
    baseline before it), at most one per rule and principal."""
    since = now - HOUR
    # (principal, hours ago) -> distinct records read; principal -> exported, refused.
    read: defaultdict[tuple[str, int], set[str]] = defaultdict(set)
    exported: defaultdict[str, int] = defaultdict(int)
    refused: defaultdict[str, int] = defaultdict(int)
    for event in events:
        if event.at >= now:
            continue
        hours_ago = int((now - event.at) / HOUR)
        if event.kind == "read" and hours_ago <= limits.baseline_hours:
            read[event.principal, hours_ago].update(event.records)
        elif hours_ago > 0:
            continue
        elif event.kind == "export":
            exported[event.principal] += len(event.records)
        elif event.kind == "refused":
            refused[event.principal] += 1
    alerts: list[Alert] = []
    for (principal, hours_ago), records in sorted(read.items()):
        if hours_ago != 0:
            continue
        before = sum(len(read.get((principal, h), ())) for h in range(1, limits.baseline_hours + 1))
        mean = before / limits.baseline_hours
        threshold = max(limits.read_records, int(limits.read_factor * mean))
        if len(records) > threshold:
            alerts.append(Alert("reads", principal, len(records), threshold, since, now, mean))
    for rule, counts, threshold in (
        ("exports", exported, limits.export_records),
        ("probing", refused, limits.refused_requests),
    ):
        for principal, count in sorted(counts.items()):
            if count > threshold:
                alerts.append(Alert(rule, principal, count, threshold, since, now))
    return alerts


def signin_alert(accounts: int, limits: DetectionThresholds, now: dt.datetime) -> Alert | None:
    """The ``signins`` alert, if *accounts* accounts with failed sign-ins in the last hour
    are too many."""
    if accounts <= limits.failed_signin_accounts:
        return None
    return Alert("signins", None, accounts, limits.failed_signin_accounts, now - HOUR, now)
