"""Spans of the request being served, when tracing is on (:mod:`gateway.tracing`).

The gateway puts its tracer in :data:`TRACER` for the duration of a traced request; code in
every layer marks a step with ``with span("audit.write", {...}):``. Without a tracer (tracing
off, or work outside a request) :func:`span` costs one context-variable read.

Privacy: a span's name and attributes are chosen by the caller of :func:`span` from schema
names, counts and opaque ids, each with a comment saying why it is safe. An exception ends
the span as an error with its *type* only: messages may quote values, so no message,
stack trace or exception event is recorded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar

from opentelemetry.trace import Span, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

__all__ = ["TRACER", "failed", "span"]

TRACER: ContextVar[Tracer | None] = ContextVar("enclave_tracer", default=None)


@contextlib.contextmanager
def span(
    name: str, attributes: Mapping[str, AttributeValue] | None = None
) -> Iterator[Span | None]:
    """A child span of the current one named *name*, or nothing when tracing is off."""
    tracer = TRACER.get()
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(
        name, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as current:
        try:
            yield current
        except BaseException as exc:
            failed(current, exc)
            raise


def failed(current: Span, exc: BaseException) -> None:
    """Mark *current* failed with the exception's type (never its message)."""
    current.set_status(Status(StatusCode.ERROR))
    current.set_attribute("error.type", type(exc).__name__)
