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
    #: For ``local``: the master key file (96 bytes, mode 0600).
    local_master_key_file: Path | None = None
    #: For the cloud providers and KMIP: credentials, as libmongocrypt's ``kms_providers``.
    kms_providers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: For the cloud providers and KMIP: the ``master_key`` document of ``create_data_key``.
    master_key: dict[str, Any] | None = None
    #: How long a region may be unreachable before its tenants get REGION_UNAVAILABLE.
    server_selection_timeout_ms: int = 2000
    #: How long libmongocrypt keeps a decrypted data key in memory (its default is 60 s).
    key_cache_ms: int = 60_000

    def kms_provider_settings(self) -> dict[str, Any]:
        """The ``kms_providers`` mapping for PyMongo, reading the local key file if used."""
        providers = dict(self.kms_providers)
        if self.kms_provider == "local":
            if self.local_master_key_file is None:
                raise ValueError("kms_provider is local but local_master_key_file is not set")
            providers["local"] = {"key": read_local_master_key(self.local_master_key_file)}
        elif self.kms_provider not in providers:
            raise ValueError(f"kms_providers has no settings for {self.kms_provider!r}")
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
