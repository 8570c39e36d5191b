"""Driver errors translated at the boundary: no ``PyMongoError`` reaches a resolver.

Every MongoDB implementation class derives from :class:`MapsDriverErrors`, which runs each
public coroutine and async generator the class defines under :func:`mongo_errors` (model:
httpx's ``map_httpcore_exceptions``): one mechanism per class, not a ``with`` per call that
a new method may forget. Encryption errors (``EncryptionError``, raised by libmongocrypt
through the driver) are ``PyMongoError`` too; a ``MongoCryptError`` that pymongocrypt raises
on a path the driver does not wrap is mapped like them.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    EncryptionError,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)
from pymongocrypt.errors import MongoCryptError

from regions.routing import region_of
from schema.errors import EnclaveError, RegionUnavailableError

__all__ = ["MapsDriverErrors", "maps_driver_errors", "mongo_errors"]

log = logging.getLogger("enclave.storage")
_UNREACHABLE = (ServerSelectionTimeoutError, AutoReconnect, ConnectionFailure)
#: Server errors that say "not now" rather than "no", for which the same request succeeds
#: once the cluster has settled: a change of primary in a replica set (or in one shard,
#: relayed by mongos) once the driver's own retry is spent, a shard mongos cannot reach,
#: anything the server labels RetryableWriteError, and MovePrimaryInProgress, which a shard
#: answers for a database that ``movePrimary`` is moving to another shard
#: (docs/SHARDING.md). Answered like an unreachable region (whose failures leave the outcome
#: as open): the caller is told to try again shortly, and a retry with the same
#: Idempotency-Key runs again.
_TRANSIENT_CODES = frozenset(
    {
        6,  # HostUnreachable (mongos to a shard)
        7,  # HostNotFound
        89,  # NetworkTimeout
        91,  # ShutdownInProgress
        133,  # FailedToSatisfyReadPreference (no primary in the tenant's shard)
        189,  # PrimarySteppedDown
        319,  # MovePrimaryInProgress
        10107,  # NotWritablePrimary
        11600,  # InterruptedAtShutdown
        11602,  # InterruptedDueToReplStateChange
        13435,  # NotPrimaryNoSecondaryOk
        13436,  # NotPrimaryOrSecondary
        9001,  # SocketException
    }
)


def _unreachable(exc: BaseException) -> bool:
    # Auto-decryption and explicit encryption wrap the key vault's network errors.
    while exc is not None:
        if isinstance(exc, _UNREACHABLE):
            return True
        if isinstance(exc, OperationFailure) and (
            exc.code in _TRANSIENT_CODES or exc.has_error_label("RetryableWriteError")
        ):
            return True
        if isinstance(exc, EncryptionError):
            exc = exc.cause
            continue
        exc = exc.__cause__  # type: ignore[assignment]
    return False


@contextlib.contextmanager
def mongo_errors(region: str | Callable[[], str]) -> Iterator[None]:
    """Map the most specific driver failure to an ``EnclaveError``; *region* (or what it
    returns, asked only on a failure) names the region in the error."""
    try:
        yield
    except EnclaveError:
        raise
    except (PyMongoError, MongoCryptError) as exc:
        name = region if isinstance(region, str) else region()
        if _unreachable(exc):
            if not isinstance(exc, _UNREACHABLE):  # the server answered: say what it said
                log.warning(
                    "transient storage error in region %s: %s code=%s",
                    name,
                    type(exc).__name__,
                    getattr(exc, "code", None),
                )
            raise RegionUnavailableError(
                f"the {name.upper()} data region is unavailable; try again shortly",
                region=name,
            ) from exc
        # The driver's message may quote a document: log only its class and code.
        log.error(
            "storage error in region %s: %s code=%s",
            name,
            type(exc).__name__,
            getattr(exc, "code", None),
        )
        raise EnclaveError("storage error") from exc


class MapsDriverErrors:
    """Base of the MongoDB implementation classes: every public coroutine and async
    generator a subclass defines runs under :func:`mongo_errors`.

    The region an error names is the call's: its ``region`` argument, else the region of
    its ``tenant_id`` argument, else the instance's ``_region`` (a store of one tenant or
    one region). A method spanning regions does its I/O through such calls."""

    _region: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, method in list(vars(cls).items()):
            if name.startswith("_"):
                continue
            if inspect.iscoroutinefunction(method):
                setattr(cls, name, _mapped(method))
            elif inspect.isasyncgenfunction(method):
                setattr(cls, name, _mapped_generator(method))


def maps_driver_errors(method: Callable[..., Any]) -> bool:
    """Whether *method* (as a class holds it, decorated further or not) runs under
    :func:`mongo_errors`."""
    return bool(getattr(method, _MARK, False))


_MARK = "__maps_driver_errors__"


def _call_region(method: Callable[..., Any], self: Any, args: Any, kwargs: Any) -> str:
    bound = inspect.signature(method).bind_partial(self, *args, **kwargs).arguments
    if isinstance(bound.get("region"), str):
        return str(bound["region"])
    if isinstance(bound.get("tenant_id"), str):
        return region_of(bound["tenant_id"])
    return str(getattr(self, "_region", "unknown"))


def _mapped(
    method: Callable[..., Coroutine[Any, Any, Any]],
) -> Callable[..., Coroutine[Any, Any, Any]]:
    @functools.wraps(method)
    async def mapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        with mongo_errors(lambda: _call_region(method, self, args, kwargs)):
            return await method(self, *args, **kwargs)

    setattr(mapped, _MARK, True)  # copied by functools.wraps into any later decorator
    return mapped


def _mapped_generator(method: Callable[..., AsyncGenerator[Any, None]]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def mapped(self: Any, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        with mongo_errors(lambda: _call_region(method, self, args, kwargs)):
            # Closed here, not left to the collector, when the caller stops early.
            async with contextlib.aclosing(method(self, *args, **kwargs)) as items:
                async for item in items:
                    yield item

    setattr(mapped, _MARK, True)
    return mapped
