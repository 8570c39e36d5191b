"""Signed, expiring download URLs of export jobs.

``/exports/<tenant id>/<job id>?expires=<unix time>&sig=<hex>``: the signature is an
HMAC-SHA256 over tenant, job, principal (``kind:id`` of whoever started the job) and expiry,
under a key derived from the gateway's JWT secret (its own label, so a token signature is
never a URL signature and the other way round). The principal is not in the URL: the
download looks the job up and checks the signature with the job's principal, so a URL is
bound to tenant, job and principal, and nothing in it can be changed. Being one-time is the
download's business (storage claims it by insert).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import urlencode

__all__ = ["ExportLinksForRequest", "ExportUrls"]

_LABEL = b"enclave/export-url/v1"


class ExportUrls:
    def __init__(self, secret: str, ttl_seconds: int, timeout_seconds: float = 3600.0) -> None:
        self._key = hmac.new(secret.encode(), _LABEL, hashlib.sha256).digest()
        self.ttl_seconds = ttl_seconds
        self.timeout_seconds = timeout_seconds

    def signature(self, tenant_id: str, job_id: str, principal: str, expires: int) -> str:
        message = f"{tenant_id}|{job_id}|{principal}|{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def path(self, tenant_id: str, job_id: str, principal: str, expires: int) -> str:
        sig = self.signature(tenant_id, job_id, principal, expires)
        return f"/exports/{tenant_id}/{job_id}?" + urlencode({"expires": expires, "sig": sig})

    def verify(self, tenant_id: str, job_id: str, principal: str, expires: int, sig: str) -> bool:
        expected = self.signature(tenant_id, job_id, principal, expires)
        return hmac.compare_digest(expected, sig)


@dataclass(frozen=True, slots=True)
class ExportLinksForRequest:
    """Absolute links, on the host the caller reached (resolvers.context.ExportLinks)."""

    urls: ExportUrls
    base_url: str

    @property
    def ttl_seconds(self) -> int:
        return self.urls.ttl_seconds

    @property
    def timeout_seconds(self) -> float:
        return self.urls.timeout_seconds

    def url(self, tenant_id: str, job_id: str, principal: str, expires: int) -> str:
        return self.base_url.rstrip("/") + self.urls.path(tenant_id, job_id, principal, expires)
