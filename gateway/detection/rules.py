"""The detection rules, as counts over one tenant's recent access events.

- ``reads``: a principal read more distinct records in the last hour than
  ``max(read_records, read_factor x its mean per hour over the baseline_hours before)``;
- ``exports``: a principal exported more records in the last hour than ``export_records``;
- ``probing``: a principal's requests were refused (``FORBIDDEN``/``NOT_FOUND``) more often in
  the last hour than ``refused_requests``;
- ``signins``: more accounts of the tenant than ``failed_signin_accounts`` have failed
  sign-ins in the last hour (failures spread over accounts: guessing, not one forgetful user).

Pure functions of events and thresholds: the reads and the incidents are the detector's. A
principal's baseline is read only when its last hour is over ``read_records`` (the floor of
its threshold), so most visits read the last hour alone.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from storage.incidentvalues import DetectionThresholds
from storage.values import AccessEvent

__all__ = ["HOUR", "RULES", "Alert", "HourCounts", "alerts", "hourly_mean", "signin_alert"]

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


@dataclass(slots=True)
class HourCounts:
    """Per principal, over the hour before *now*: distinct records read, records exported,
    requests refused."""

    now: dt.datetime
    read: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    exported: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    refused: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))

    @classmethod
    def of(cls, events: Iterable[AccessEvent], now: dt.datetime) -> HourCounts:
        counts = cls(now)
        for event in events:
            if not now - HOUR <= event.at < now:
                continue
            if event.kind == "read":
                counts.read[event.principal].update(event.records)
            elif event.kind == "export":
                counts.exported[event.principal] += len(event.records)
            elif event.kind == "refused":
                counts.refused[event.principal] += 1
        return counts

    def heavy_readers(self, limits: DetectionThresholds) -> list[str]:
        """The principals whose reads are over the floor of their threshold: only theirs
        can be over the threshold, so only their baseline is needed."""
        return sorted(p for p, records in self.read.items() if len(records) > limits.read_records)


def hourly_mean(events: Iterable[AccessEvent], now: dt.datetime, hours: int) -> float:
    """The mean of distinct records read per hour over the *hours* before the last hour."""
    per_hour: defaultdict[int, set[str]] = defaultdict(set)
    for event in events:
        hours_ago = int((now - event.at) / HOUR)
        if event.kind == "read" and 1 <= hours_ago <= hours:
            per_hour[hours_ago].update(event.records)
    return sum(len(records) for records in per_hour.values()) / hours


def alerts(
    counts: HourCounts, limits: DetectionThresholds, baselines: Mapping[str, float]
) -> list[Alert]:
    """The ``reads``, ``exports`` and ``probing`` alerts of *counts*, at most one per rule and
    principal; *baselines* holds the hourly mean of each of :meth:`HourCounts.heavy_readers`."""
    since, now = counts.now - HOUR, counts.now
    found: list[Alert] = []
    for principal in counts.heavy_readers(limits):
        mean = baselines.get(principal, 0.0)
        threshold = max(limits.read_records, int(limits.read_factor * mean))
        if (read := len(counts.read[principal])) > threshold:
            found.append(Alert("reads", principal, read, threshold, since, now, mean))
    for rule, per_principal, threshold in (
        ("exports", counts.exported, limits.export_records),
        ("probing", counts.refused, limits.refused_requests),
    ):
        for principal, count in sorted(per_principal.items()):
            if count > threshold:
                found.append(Alert(rule, principal, count, threshold, since, now))
    return found


def signin_alert(accounts: int, limits: DetectionThresholds, now: dt.datetime) -> Alert | None:
    """The ``signins`` alert, if *accounts* accounts with failed sign-ins in the last hour
    are too many."""
    if accounts <= limits.failed_signin_accounts:
        return None
    return Alert("signins", None, accounts, limits.failed_signin_accounts, now - HOUR, now)
