"""Points in time between logged events, for tests of time windows."""

from __future__ import annotations

import asyncio
import datetime as dt

__all__ = ["moment"]


async def moment() -> dt.datetime:
    """Now, strictly after every event logged so far and before any logged from here on
    (the logs keep milliseconds)."""
    await asyncio.sleep(0.01)
    at = dt.datetime.now(dt.UTC)
    await asyncio.sleep(0.01)
    return at
