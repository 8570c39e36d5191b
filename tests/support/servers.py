"""Which servers the suite runs on: its own (FerretDB for EU and US and Redis on free
loopback ports, started once per session) or those ``ENCLAVE_EU__MONGODB_URI``,
``ENCLAVE_US__MONGODB_URI`` and ``ENCLAVE_REDIS_URL`` name."""

from __future__ import annotations

import os

__all__ = ["EXTERNAL"]

#: The suite runs on servers named by the environment, not on its own FerretDB and Redis.
EXTERNAL = all(
    os.environ.get(v)
    for v in ("ENCLAVE_EU__MONGODB_URI", "ENCLAVE_US__MONGODB_URI", "ENCLAVE_REDIS_URL")
)
