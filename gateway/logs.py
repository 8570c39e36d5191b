"""Structured logs: one JSON object per line on stderr, each with the request id of the
request it belongs to (``null`` outside requests).

What is logged is chosen so that no personal data is: our own log calls pass only ids,
counts, names of things and error classes; uvicorn's access log (which holds the client's
address) is off, replaced by :mod:`gateway.middleware.telemetry`'s one line per request; and an
exception is logged as its type and stack frames, never its message (a driver's or
library's message may quote a value).
"""

from __future__ import annotations

import logging
import traceback
from contextvars import ContextVar
from types import TracebackType
from typing import Any

from pythonjsonlogger.json import JsonFormatter

__all__ = ["REQUEST_ID", "RequestIdFilter", "SafeJsonFormatter", "log_config"]

REQUEST_ID: ContextVar[str | None] = ContextVar("enclave_request_id", default=None)

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class SafeJsonFormatter(JsonFormatter):
    """JSON lines; exceptions without their messages."""

    def formatException(self, ei: Any) -> str:
        exc_type, _exc, tb = ei if isinstance(ei, tuple) else (None, None, None)
        frames = "".join(traceback.format_tb(tb)) if tb is not None else ""
        name = exc_type.__name__ if exc_type is not None else "Exception"
        return f"{frames}{name} (message not logged)"


def log_config(level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the gateway and uvicorn: JSON on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {
            "json": {
                "()": SafeJsonFormatter,
                "fmt": "%(levelname)s %(name)s %(message)s",
                "rename_fields": {"levelname": "level", "name": "logger"},
                "timestamp": "time",  # ISO 8601, UTC
            }
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["stderr"], "level": level},
    }
