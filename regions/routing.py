"""Tenant ids carry their region, so a request is routed without any lookup.

A tenant id is ``<region>_<ulid>`` in lower case, e.g. ``eu_01jd0x4f8k2m6n7p9q3r5s7t9v``.
Its database is ``tenant_<tenant id>`` on that region's cluster, never anywhere else.
"""

from __future__ import annotations

import re
from typing import cast

from ulid import ULID

from regions.countries import RegionName
from schema.errors import BadUserInputError

__all__ = ["REGIONS", "database_name", "new_tenant_id", "region_of", "validate_tenant_id"]

REGIONS: tuple[RegionName, ...] = ("eu", "us")
_TENANT_ID = re.compile(r"^(eu|us)_[0-9a-hjkmnp-tv-z]{26}$")


def new_tenant_id(region: RegionName) -> str:
    if region not in REGIONS:
        raise ValueError(f"unknown region {region!r}")
    return f"{region}_{str(ULID()).lower()}"


def validate_tenant_id(tenant_id: str) -> str:
    """*tenant_id* if it is well formed; ``BadUserInputError`` otherwise."""
    if not _TENANT_ID.match(tenant_id):
        raise BadUserInputError("malformed tenant id", field="tenant")
    return tenant_id


def region_of(tenant_id: str) -> RegionName:
    """The region a tenant lives in, read from its id."""
    return cast(RegionName, validate_tenant_id(tenant_id)[:2])


def database_name(tenant_id: str) -> str:
    return f"tenant_{validate_tenant_id(tenant_id)}"
