"""Driver errors translated at the boundary: no ``PyMongoError`` reaches a resolver."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    EncryptionError,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from schema.errors import EnclaveError, RegionUnavailableError

__all__ = ["maps_driver_errors", "mongo_errors"]

log = logging.getLogger("enclave.storage")
_UNREACHABLE = (ServerSelectionTimeoutError, AutoReconnect, ConnectionFailure)


def _unreachable(exc: BaseException) -> bool:
    # Auto-decryption and explicit encryption wrap the key vault's network errors.
    while exc is not None:
        if isinstance(exc, _UNREACHABLE):
            return True
        if isinstance(exc, EncryptionError):
            exc = exc.cause
            continue
        exc = exc.__cause__  # type: ignore[assignment]
    return False


@contextmanager
def mongo_errors(region: str) -> Iterator[None]:
    """Map the most specific driver failure to an ``EnclaveError``."""
    try:
        yield
    except EnclaveError:
        raise
    except PyMongoError as exc:
        if _unreachable(exc):
            raise RegionUnavailableError(
                f"the {region.upper()} data region is unavailable; try again shortly",
                region=region,
            ) from exc
        # The driver's message may quote a document: log only its class and code.
        log.error(
            "storage error in region %s: %s code=%s",
            region,
            type(exc).__name__,
            getattr(exc, "code", None),
        )
        raise EnclaveError("storage error") from exc


_Store = TypeVar("_Store", bound=type)


def maps_driver_errors(cls: _Store) -> _Store:
    """Class decorator: every public coroutine method of *cls* runs under ``mongo_errors``
    of the instance's ``_region``, so none of them can let a driver error through (one
    mechanism per store class, not a ``with`` per call that a new method may forget)."""
    for name, method in list(vars(cls).items()):
        if name.startswith("_") or not inspect.iscoroutinefunction(method):
            continue
        setattr(cls, name, _mapped(method))
    return cls


def _mapped(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def mapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        with mongo_errors(self._region):
            return await method(self, *args, **kwargs)

    return mapped
