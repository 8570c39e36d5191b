"""Every error a client can cause, each with its GraphQL ``extensions.code``.

::

    EnclaveError                       INTERNAL (base; never shown with its message)
    ├── BadUserInputError              BAD_USER_INPUT
    │   └── UnknownCountryError        BAD_USER_INPUT
    ├── NotFoundError                  NOT_FOUND
    ├── ConflictError                  CONFLICT
    ├── UnauthenticatedError           UNAUTHENTICATED
    ├── ForbiddenError                 FORBIDDEN
    ├── RegionUnavailableError         REGION_UNAVAILABLE
    └── DataIntegrityError             DATA_INTEGRITY

Messages are written for the caller and must never contain a stored value: they name
fields, ids and codes, nothing a data subject wrote. Anything that is not an
``EnclaveError`` is masked as ``INTERNAL`` at the GraphQL boundary.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "BadUserInputError",
    "ConflictError",
    "DataIntegrityError",
    "EnclaveError",
    "ForbiddenError",
    "NotFoundError",
    "RegionUnavailableError",
    "UnauthenticatedError",
    "UnknownCountryError",
]


class EnclaveError(Exception):
    """Base of every error Enclave raises on purpose."""

    code: ClassVar[str] = "INTERNAL"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, **extensions: object) -> None:
        super().__init__(message)
        self.message = message
        self.extensions: dict[str, object] = {"code": self.code, **extensions}


class BadUserInputError(EnclaveError):
    code = "BAD_USER_INPUT"
    http_status = 400


class UnknownCountryError(BadUserInputError):
    """A country code that is not an ISO 3166-1 alpha-2 code."""


class NotFoundError(EnclaveError):
    code = "NOT_FOUND"
    http_status = 404


class ConflictError(EnclaveError):
    code = "CONFLICT"
    http_status = 409


class UnauthenticatedError(EnclaveError):
    code = "UNAUTHENTICATED"
    http_status = 401


class ForbiddenError(EnclaveError):
    code = "FORBIDDEN"
    http_status = 403


class RegionUnavailableError(EnclaveError):
    code = "REGION_UNAVAILABLE"
    http_status = 503


class DataIntegrityError(EnclaveError):
    """Stored data the gateway refuses to use: e.g. a value encrypted under another key
    than the reading tenant's (copied there by someone with database access). Nothing of
    it is decrypted or shown; the message names record ids at most."""

    code = "DATA_INTEGRITY"
    http_status = 500
