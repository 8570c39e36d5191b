"""The two ways the compiled path hands a request to the standard executor."""

from __future__ import annotations

__all__ = ["FallbackError", "UnsupportedDocumentError"]


class UnsupportedDocumentError(Exception):
    """The compiler does not serve this document; the standard executor does."""


class FallbackError(Exception):
    """This request's answer is left to the standard executor: it holds an error, or a null
    where the schema forbids one."""
