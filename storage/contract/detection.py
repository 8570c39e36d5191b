"""A tenant's thresholds of the detection rules, and the sign-in failures they count."""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod

from storage.incidentvalues import DetectionThresholds
from storage.values import Actor

__all__ = ["DetectionStore"]


class DetectionStore(ABC):
    """The tenant's detection thresholds (a settings document, written through the audited
    write path) and what the sign-in rule reads of the failed attempts."""

    @abstractmethod
    async def thresholds(self) -> DetectionThresholds:
        """The tenant's thresholds; the defaults if none were set, or if the settings were
        changed outside the gateway (nobody vouches for them: the defaults hold)."""

    @abstractmethod
    async def set_thresholds(self, thresholds: DetectionThresholds, actor: Actor) -> None:
        """Store *thresholds* (validated by the caller); audited."""

    @abstractmethod
    async def failed_signin_accounts(self, since: dt.datetime, *, limit: int) -> int:
        """How many distinct accounts (known users and unknown emails alike) have a failed
        sign-in attempt since *since* that no success has cleared; at most *limit* attempts
        are read (the count is then a lower bound)."""
