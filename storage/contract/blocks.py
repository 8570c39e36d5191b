"""Blocked principals: whom a breach containment locked out, and since when."""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

from storage.values import Actor

__all__ = ["FOREVER", "BlockStore"]

#: The block of a principal whose block document fails verification, or is gone while the
#: audit log says it was written: every credential of it is refused (fail closed).
FOREVER = dt.datetime.max.replace(tzinfo=dt.UTC)


class BlockStore(ABC):
    """Per principal (``user:<id>``, ``api_key:<id>``; a user may be an identity provider's
    subject the tenant has no record of), the time from which on its credentials count
    again: a token issued (``iat``) at or before it is refused. Written through the
    audited write path, each document MAC'd (:mod:`storage.documentmac`)."""

    @abstractmethod
    async def block(
        self, principals: Sequence[str], at: dt.datetime, incident: str, actor: Actor
    ) -> None:
        """Block each of *principals* as of *at* (a later block replaces an earlier one),
        naming the *incident* that contained it; audited."""

    @abstractmethod
    async def all(self) -> Mapping[str, dt.datetime]:
        """Every block its documents hold, by principal. A block document edited or forged
        in the database (its MAC fails) blocks its principal :data:`FOREVER`, logged
        without values; a deleted one is not seen here (the gateway keeps blocks outside
        the database as well)."""
