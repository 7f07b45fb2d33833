"""A webhook receiver for tests: a real HTTP server on loopback that records what it is sent.

    with WebhookReceiver(answers=[503, 503]) as hooks:   # fail twice, then 204
        ... subscribe hooks.url ...
        hooks.wait_for(lambda r: r.json()["subject"] == order_id)

Each request (of any method) is kept with its headers, body and arrival time; `verified(secret)`
checks its signature (reference_services.platform.webhook_signatures). Answers are taken in order
from `answers`, then `default_status`; a 3xx answer carries `Location: redirect_to`.
"""

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

import orjson

from preflight.waits import wait_until
from reference_services.platform.webhook_signatures import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    verify,
)


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    """time.monotonic() on arrival."""
    answered: int
    method: str = "POST"

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def webhook_id(self) -> str | None:
        return self.headers.get(ID_HEADER.lower())

    def verified(self, secret: str) -> bool:
        try:
            verify(
                secret,
                self.body,
                self.headers.get(TIMESTAMP_HEADER.lower()),
                self.headers.get(SIGNATURE_HEADER.lower()),
            )
        except SignatureError:
            return False
        return True


class WebhookReceiver:
    def __init__(
        self,
        answers: Iterable[int] = (),
        default_status: int = 204,
        *,
        redirect_to: str | None = None,
    ) -> None:
        self._answers = list(answers)
        self.default_status = default_status
        self.redirect_to = redirect_to
        self._received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = receiver._next_answer()
                receiver._record(
                    Received(
                        path=self.path,
                        headers={k.lower(): v for k, v in self.headers.items()},
                        body=body,
                        at=time.monotonic(),
                        answered=status,
                        method=self.command,
                    )
                )
                self.send_response(status)
                if 300 <= status < 400 and receiver.redirect_to is not None:
                    self.send_header("Location", receiver.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks"

    def _next_answer(self) -> int:
        with self._lock:
            return self._answers.pop(0) if self._answers else self.default_status

    def _record(self, received: Received) -> None:
        with self._lock:
            self._received.append(received)

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def wait_for(
        self, matches: Callable[[Received], bool], *, count: int = 1, timeout: float = 30
    ) -> list[Received]:
        """Poll until `count` received requests match; returns the matching ones."""

        def found() -> list[Received] | None:
            hits = [r for r in self.received if matches(r)]
            return hits if len(hits) >= count else None

        return wait_until(
            found, timeout=timeout, interval=0.05, description=f"{count} webhook(s) at {self.url}"
        )

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
