"""Every error Enclave raises on purpose, each with its GraphQL ``extensions.code`` and
the HTTP status of an answer that is this error alone (a refusal before the operation
runs, a download, a replayed answer, a refused sign-in); inside a GraphQL answer an error
comes with 200.

::

    EnclaveError                        INTERNAL                   500  (base; message masked)
    ├── BadUserInputError               BAD_USER_INPUT             400
    │   ├── UnknownCountryError         BAD_USER_INPUT             400
    │   ├── QueryTooCostlyError         BAD_USER_INPUT             400
    │   ├── FragmentCycleError          BAD_USER_INPUT             400
    │   ├── MethodNotAllowedError       BAD_USER_INPUT             405
    │   └── UnsupportedRequestError     BAD_USER_INPUT             415
    ├── UnauthenticatedError            UNAUTHENTICATED            401
    ├── ForbiddenError                  FORBIDDEN                  403
    ├── OperationNotAllowedError        OPERATION_NOT_ALLOWED      403
    ├── PersistedQueryNotFoundError     PERSISTED_QUERY_NOT_FOUND  200
    ├── NotFoundError                   NOT_FOUND                  404
    ├── ConflictError                   CONFLICT                   409
    ├── ExportGoneError                 GONE                       410
    ├── PayloadTooLargeError            PAYLOAD_TOO_LARGE          413
    ├── RateLimitedError                RATE_LIMITED               429
    ├── RegionUnavailableError          REGION_UNAVAILABLE         503
    ├── IdempotencyUnavailableError     UNAVAILABLE                503
    ├── DataIntegrityError              DATA_INTEGRITY             500
    └── AuditTamperedError              AUDIT_TAMPERED             500  (never in an answer)

Messages are written for the caller and must never contain a stored value: they name
fields, ids and codes, nothing a data subject wrote. Anything that is not an
``EnclaveError`` is masked as ``INTERNAL`` at the GraphQL boundary. README's error table
lists every code here with its status (``tests/test_error_table.py`` holds them together).
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AuditTamperedError",
    "BadUserInputError",
    "ConflictError",
    "DataIntegrityError",
    "EnclaveError",
    "ExportGoneError",
    "ForbiddenError",
    "FragmentCycleError",
    "IdempotencyUnavailableError",
    "MethodNotAllowedError",
    "NotFoundError",
    "OperationNotAllowedError",
    "PayloadTooLargeError",
    "PersistedQueryNotFoundError",
    "QueryTooCostlyError",
    "RateLimitedError",
    "RegionUnavailableError",
    "UnauthenticatedError",
    "UnknownCountryError",
    "UnsupportedRequestError",
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


class QueryTooCostlyError(BadUserInputError):
    """A document whose estimated cost (resolvers.limits) is over the limit."""

    def __init__(self, cost: int, limit: int) -> None:
        super().__init__(
            f"the query's estimated cost {cost} is over the limit of {limit}; ask for fewer "
            "records or fields",
            limit="cost",
            max=limit,
            cost=cost,
        )


class FragmentCycleError(BadUserInputError):
    """Fragments that spread each other (resolvers.docshape)."""

    def __init__(self) -> None:
        super().__init__("fragments spread each other in a cycle", limit="fragments")


class MethodNotAllowedError(BadUserInputError):
    http_status = 405


class UnsupportedRequestError(BadUserInputError):
    http_status = 415


class UnauthenticatedError(EnclaveError):
    code = "UNAUTHENTICATED"
    http_status = 401


class ForbiddenError(EnclaveError):
    code = "FORBIDDEN"
    http_status = 403


class OperationNotAllowedError(EnclaveError):
    """A document the tenant's allow-list does not hold (gateway.persisted)."""

    code = "OPERATION_NOT_ALLOWED"
    http_status = 403

    def __init__(self) -> None:
        super().__init__(
            "this tenant runs only registered operations, and this one is not registered"
        )


class PersistedQueryNotFoundError(EnclaveError):
    """A persisted query's hash the tenant has no document for (gateway.persisted)."""

    code = "PERSISTED_QUERY_NOT_FOUND"
    http_status = 200  # as the convention has it: the client then sends the document

    def __init__(self) -> None:
        super().__init__("PersistedQueryNotFound")


class NotFoundError(EnclaveError):
    code = "NOT_FOUND"
    http_status = 404


class ConflictError(EnclaveError):
    code = "CONFLICT"
    http_status = 409


class ExportGoneError(EnclaveError):
    """The link expired, or the export was downloaded already."""

    code = "GONE"
    http_status = 410


class PayloadTooLargeError(EnclaveError):
    code = "PAYLOAD_TOO_LARGE"
    http_status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes")


class RateLimitedError(EnclaveError):
    code = "RATE_LIMITED"
    http_status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many requests; retry after {retry_after} s", retryAfter=retry_after)
        self.retry_after = retry_after


class RegionUnavailableError(EnclaveError):
    code = "REGION_UNAVAILABLE"
    http_status = 503


class IdempotencyUnavailableError(EnclaveError):
    """A request with an ``Idempotency-Key`` while Redis is unreachable."""

    code = "UNAVAILABLE"
    http_status = 503


class DataIntegrityError(EnclaveError):
    """Stored data the gateway refuses to use: e.g. a value encrypted under another key
    than the reading tenant's (copied there by someone with database access). Nothing of
    it is decrypted or shown; the message names record ids at most."""

    code = "DATA_INTEGRITY"
    http_status = 500


class AuditTamperedError(EnclaveError):
    """The audit log was changed outside the gateway: the sealer will not extend it.
    Raised to the sealer and ``enclave audit``, never in a client's answer."""

    code = "AUDIT_TAMPERED"

    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(f"audit entry {seq}: {reason}", sequence=seq)
        self.seq = seq
        self.reason = reason
