"""Alerts POSTed to a webhook, signed as the Standard Webhooks spec says, off the request path.

Each message has a ``webhook-id`` (the same on every retry of it, so the receiver can drop a
duplicate), a ``webhook-timestamp`` (seconds) and a ``webhook-signature``: ``v1,`` and the
base64 HMAC-SHA256, under the secret, of ``<id>.<timestamp>.<body>``. Messages wait in a
bounded queue (the oldest dropped and counted when full) and are sent by :meth:`run`: a
connection failure, a timeout, a 429 or a 5xx answer is retried with exponential backoff up to
*attempts* times; any other 4xx is the receiver refusing it (not retried). Payloads are made
by :mod:`gateway.detection.detector`: ids and counts, never values, tokens or addresses.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import httpx
import orjson
from ulid import ULID

from gateway.metrics import GatewayMetrics

__all__ = ["Webhook", "parse_secret", "signature"]

log = logging.getLogger("enclave.detection")
_MAX_QUEUED = 1_000
_TIMEOUT = httpx.Timeout(5.0)


def parse_secret(text: str) -> bytes:
    """The key of a ``whsec_<base64>`` secret (the prefix is optional); at least 24 bytes."""
    try:
        encoded = text.removeprefix("whsec_")
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except ValueError:
        raise ValueError("the webhook secret is whsec_ and base64") from None
    if len(key) < 24:
        raise ValueError("the webhook secret must hold at least 24 bytes")
    return key


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header of one message."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class Webhook:
    def __init__(
        self,
        url: str,
        key: bytes,
        metrics: GatewayMetrics,
        *,
        attempts: int = 5,
        backoff_seconds: float = 1.0,
    ) -> None:
        self._url = url
        self._key = key
        self._metrics = metrics
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._queue: deque[tuple[str, bytes]] = deque()
        self._ready = asyncio.Event()
        self._client = httpx.AsyncClient(timeout=_TIMEOUT, follow_redirects=False)

    def send(self, payload: Mapping[str, Any]) -> None:
        """Queue *payload* (delivered by :meth:`run`, or by :meth:`drain`)."""
        if len(self._queue) >= _MAX_QUEUED:
            self._queue.popleft()
            self._metrics.webhook_deliveries.labels("dropped").inc()
        self._queue.append((f"msg_{ULID()}", orjson.dumps(payload)))
        self._ready.set()

    async def drain(self) -> int:
        """Deliver every queued message now (each with its retries); how many arrived."""
        delivered = 0
        while self._queue:
            msg_id, body = self._queue.popleft()
            with self._metrics.background_step("webhook"):
                delivered += await self._deliver(msg_id, body)
        return delivered

    async def _deliver(self, msg_id: str, body: bytes) -> bool:
        outcomes = self._metrics.webhook_deliveries
        for attempt in range(self._attempts):
            if attempt:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
            timestamp = int(time.time())
            headers = {
                "content-type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": signature(self._key, msg_id, timestamp, body),
            }
            try:
                response = await self._client.post(self._url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                status, reason = None, type(exc).__name__
            else:
                status, reason = response.status_code, f"HTTP {response.status_code}"
            if status is not None and 200 <= status < 300:
                outcomes.labels("delivered").inc()
                return True
            if status is not None and 400 <= status < 500 and status != 429:
                outcomes.labels("rejected").inc()
                log.warning("alert webhook refused message %s: %s", msg_id, reason)
                return False
            if attempt + 1 < self._attempts:
                outcomes.labels("retried").inc()
        outcomes.labels("failed").inc()
        log.warning(
            "alert webhook: message %s not delivered after %d attempts", msg_id, attempt + 1
        )
        return False

    async def run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            await self.drain()

    async def aclose(self) -> None:
        await self._client.aclose()
