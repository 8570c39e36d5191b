"""A loopback HTTP server that receives alert webhooks in tests: bounded, it stops by itself
after *limit* requests or *seconds*, whichever comes first."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import TracebackType

__all__ = ["Delivery", "WebhookReceiver"]


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class WebhookReceiver:
    """Answers 500 to the first delivery of each message id (*fail_first*), 200 after."""

    fail_first: bool = True
    limit: int = 50
    seconds: float = 120.0
    deliveries: list[Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                seen = {d.headers.get("webhook-id") for d in receiver.deliveries}
                status = (
                    500 if receiver.fail_first and headers.get("webhook-id") not in seen else 200
                )
                receiver.deliveries.append(Delivery(headers, body, status))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = HTTPServer(("127.0.0.1", 0), Handler)
        self._server.timeout = 0.2
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/alerts"

    def _serve(self) -> None:
        deadline = time.monotonic() + self.seconds
        while (
            not self._stop.is_set()
            and time.monotonic() < deadline
            and len(self.deliveries) < self.limit
        ):
            self._server.handle_request()
        self._server.server_close()

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
