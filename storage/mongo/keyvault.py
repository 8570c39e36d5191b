"""Master-key rotation: rewrap every data key of a region under a new master key.

Data keys never change, only the master key that wraps them, so no ciphertext is
rewritten and nothing stops: gateways that know both the old and the new master key (a
named provider such as ``local:key2``, or a second cloud key) unwrap either, and keep
their unwrapped keys cached meanwhile. Steps for operators (README, "Key rotation"):
give every gateway the new key, ``enclave keys rotate``, check ``enclave keys status``
shows no key left under the old one, then retire it (remove it from the configuration
and destroy it and its copies).

Retiring the old master key is what makes earlier purges final against *backups of the
key vault*: a backup holds the purged tenant's data key wrapped by a master key, and is
useless once that master key is gone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from regions.clients import KEY_VAULT_NAMESPACE, RegionClient
from schema.errors import BadUserInputError
from storage.mongo.errors import mongo_errors

__all__ = ["RotationReport", "key_providers", "rotate_master_key"]


@dataclass(frozen=True, slots=True)
class RotationReport:
    region: str
    provider: str
    rewrapped: int
    #: How many data keys each master key wraps, before and after.
    before: Mapping[str, int]
    after: Mapping[str, int]


async def key_providers(region: RegionClient) -> dict[str, int]:
    """How many data keys of the region each KMS provider (master key) wraps."""
    vault_db, vault_coll = KEY_VAULT_NAMESPACE.split(".", 1)
    with mongo_errors(region.name):
        docs = await region.plain[vault_db][vault_coll].find({}, {"masterKey": 1}).to_list()
    return dict(Counter(str((d.get("masterKey") or {}).get("provider")) for d in docs))


async def rotate_master_key(
    region: RegionClient, provider: str, master_key: Mapping[str, Any] | None = None
) -> RotationReport:
    """Rewrap every data key of *region* under *provider* (and its *master_key*, for cloud
    KMS); the provider must be configured for the region."""
    if provider not in region.config.kms_provider_settings():
        raise BadUserInputError(
            f"the {region.name.upper()} region has no KMS provider {provider!r} configured",
            field="provider",
        )
    before = await key_providers(region)
    with mongo_errors(region.name):
        result = await region.encryption.rewrap_many_data_key(
            {}, provider=provider, master_key=master_key
        )
    bulk = result.bulk_write_result
    rewrapped = bulk.modified_count if bulk is not None else 0
    return RotationReport(region.name, provider, rewrapped, before, await key_providers(region))
