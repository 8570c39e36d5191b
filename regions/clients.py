"""One set of MongoDB clients per region, built once at start-up and shared by its tenants.

Each region has:

- ``data``: the client for tenant databases, with automatic *decryption* on
  (``bypass_auto_encryption=True``: it works with any server and needs no mongocryptd);
- ``plain``: a client with no encryption for the key vault and the control database,
  which hold no personal data; libmongocrypt also fetches data keys through it;
- ``encryption``: the ``AsyncClientEncryption`` that writes use for explicit encryption.

libmongocrypt's key fetches, for ``data`` and ``encryption`` alike, are served by ``_id``
equality finds (:mod:`regions.keyfetch`), hooked here once when the clients are made.

A region's clients only ever connect to that region's URI: nothing in a tenant's path can
reach the other region, because the tenant id picks the registry entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bson.binary import STANDARD
from bson.codec_options import CodecOptions
from pymongo import AsyncMongoClient
from pymongo.asynchronous.encryption import AsyncClientEncryption
from pymongo.encryption_options import AutoEncryptionOpts
from pymongo.monitoring import _EventListener

from regions.catalog import RegionConfig
from regions.countries import RegionName
from regions.keyfetch import KeyFetch
from regions.keyfetch import install as fetch_keys_by_id
from regions.nativecrypto import ensure_installed
from regions.routing import region_of

__all__ = ["KEY_VAULT_NAMESPACE", "RegionClient", "RegionRegistry"]

KEY_VAULT_NAMESPACE = "encryption.__keyVault"
CODEC_OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(
    uuid_representation=STANDARD, tz_aware=True
)


@dataclass(slots=True)
class RegionClient:
    """The clients of one region."""

    name: RegionName
    config: RegionConfig
    data: AsyncMongoClient[dict[str, Any]]
    plain: AsyncMongoClient[dict[str, Any]]
    encryption: AsyncClientEncryption[dict[str, Any]]
    #: libmongocrypt's key fetches of ``data`` and of ``encryption`` (regions.keyfetch).
    key_fetches: tuple[KeyFetch, ...] = ()

    @classmethod
    def from_config(
        cls,
        name: RegionName,
        config: RegionConfig,
        *,
        listeners: Sequence[_EventListener] = (),
    ) -> RegionClient:
        """The region's clients; *listeners* watch commands and pools (metrics, benchmarks)."""
        ensure_installed()  # libmongocrypt's crypto hooks are chosen before any client is made
        uri = config.mongodb_uri.get_secret_value()
        timeouts: dict[str, Any] = {
            "serverSelectionTimeoutMS": config.server_selection_timeout_ms,
            "connectTimeoutMS": config.server_selection_timeout_ms,
            "socketTimeoutMS": 20_000,
            "appname": f"enclave-{name}",
        }
        if listeners:
            timeouts["event_listeners"] = list(listeners)
        kms = config.kms_provider_settings()
        plain: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            uri, document_class=dict, tz_aware=True, uuidRepresentation="standard", **timeouts
        )
        auto = AutoEncryptionOpts(
            kms,
            KEY_VAULT_NAMESPACE,
            key_vault_client=plain,
            bypass_auto_encryption=True,
            key_expiration_ms=config.key_cache_ms,
        )
        data: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            uri,
            document_class=dict,
            tz_aware=True,
            uuidRepresentation="standard",
            auto_encryption_opts=auto,
            **timeouts,
        )
        encryption: AsyncClientEncryption[dict[str, Any]] = AsyncClientEncryption(
            kms, KEY_VAULT_NAMESPACE, plain, CODEC_OPTIONS, key_expiration_ms=config.key_cache_ms
        )
        # Private PyMongo API: each client's encryption IO (keyfetch.install checks it).
        auto_io = getattr(getattr(data, "_encrypter", None), "_auto_encrypter", None)
        io = (getattr(auto_io, "callback", None), getattr(encryption, "_io_callbacks", None))
        fetches = tuple(fetch_keys_by_id(one) for one in io)
        return cls(name, config, data, plain, encryption, key_fetches=fetches)

    @property
    def master_key(self) -> dict[str, Any] | None:
        return None if self.config.kms_provider == "local" else self.config.master_key

    @property
    def wrapping_provider(self) -> str:
        """The KMS provider new data keys are wrapped by."""
        return self.config.wrapping_provider

    async def aclose(self) -> None:
        await self.encryption.close()
        await self.data.close()
        await self.plain.close()


class RegionRegistry(Mapping[RegionName, RegionClient]):
    """Regions by name, built once from configuration; routes tenant ids to their region."""

    def __init__(self, clients: Mapping[RegionName, RegionClient]) -> None:
        self._clients = dict(clients)

    @classmethod
    def from_configs(
        cls,
        configs: Mapping[RegionName, RegionConfig],
        listeners: Callable[[RegionName], Sequence[_EventListener]] = lambda _: (),
    ) -> RegionRegistry:
        return cls(
            {
                name: RegionClient.from_config(name, cfg, listeners=listeners(name))
                for name, cfg in configs.items()
            }
        )

    def for_tenant(self, tenant_id: str) -> RegionClient:
        """The region a tenant lives in, from its id alone."""
        return self._clients[region_of(tenant_id)]

    def __getitem__(self, name: RegionName) -> RegionClient:
        return self._clients[name]

    def __iter__(self) -> Iterator[RegionName]:
        return iter(self._clients)

    def __len__(self) -> int:
        return len(self._clients)

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
