"""Region configuration: where each region's cluster is and how its keys are wrapped.

Read from settings (see ``gateway.settings``) as ``ENCLAVE_EU__…`` and ``ENCLAVE_US__…``.
In development the master key is a 96-byte local key file (``enclave keys init``); in
production ``kms_provider`` names AWS, GCP, Azure or KMIP and ``kms_providers`` /
``master_key`` carry exactly what libmongocrypt expects for it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr

__all__ = ["KmsProvider", "RegionConfig", "write_local_master_key"]

KmsProvider = Literal["local", "aws", "gcp", "azure", "kmip"]
LOCAL_MASTER_KEY_BYTES = 96


class RegionConfig(BaseModel):
    """One data region: its MongoDB cluster and its key management."""

    mongodb_uri: SecretStr = Field(description="MongoDB connection string of the region's cluster")
    kms_provider: KmsProvider = "local"
    #: For ``local``: the master key file (96 bytes, mode 0600), KMS provider ``local``.
    local_master_key_file: Path | None = None
    #: More local master keys by name: ``{"key2": path}`` is the provider ``local:key2``.
    #: A gateway that knows both the old and the new key keeps working while the data keys
    #: are rewrapped from one to the other (``enclave keys rotate``).
    local_master_key_files: dict[str, Path] = Field(default_factory=dict)
    #: The provider new data keys are wrapped by (default: ``kms_provider``), e.g.
    #: ``local:key2`` once rotated to that key, or a named cloud provider such as ``aws:new``.
    data_key_provider: str | None = None
    #: For the cloud providers and KMIP: credentials, as libmongocrypt's ``kms_providers``.
    kms_providers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: For the cloud providers and KMIP: the ``master_key`` document of ``create_data_key``.
    master_key: dict[str, Any] | None = None
    #: How long a region may be unreachable before its tenants get REGION_UNAVAILABLE.
    server_selection_timeout_ms: int = 2000
    #: How long libmongocrypt keeps a decrypted data key in memory (its own default is
    #: 60 s). Short, so that a purged tenant's destroyed key stops working in every running
    #: process within seconds; refetching a key is one key vault lookup per tenant.
    key_cache_ms: int = 5_000

    @property
    def wrapping_provider(self) -> str:
        """The KMS provider (possibly named, ``local:key2``) that wraps new data keys."""
        return self.data_key_provider or self.kms_provider

    def kms_provider_settings(self) -> dict[str, Any]:
        """The ``kms_providers`` mapping for PyMongo, reading the local key files if used."""
        providers = dict(self.kms_providers)
        if self.kms_provider == "local":
            if self.local_master_key_file is None and not self.local_master_key_files:
                raise ValueError("kms_provider is local but local_master_key_file is not set")
            if self.local_master_key_file is not None:
                providers["local"] = {"key": read_local_master_key(self.local_master_key_file)}
        for name, path in self.local_master_key_files.items():
            providers[f"local:{name}"] = {"key": read_local_master_key(path)}
        if self.wrapping_provider not in providers:
            raise ValueError(f"kms_providers has no settings for {self.wrapping_provider!r}")
        return providers


def read_local_master_key(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ValueError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
    key = path.read_bytes()
    if len(key) != LOCAL_MASTER_KEY_BYTES:
        raise ValueError(f"{path} must hold exactly {LOCAL_MASTER_KEY_BYTES} bytes")
    return key


def write_local_master_key(path: Path, *, overwrite: bool = False) -> bool:
    """Create a new random local master key at *path* with mode 0600.

    Returns False, leaving the file alone, if it exists and *overwrite* is off: replacing
    a master key makes every data key wrapped by it undecryptable.
    """
    if path.exists() and not overwrite:
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, os.urandom(LOCAL_MASTER_KEY_BYTES))
    finally:
        os.close(fd)
    return True
