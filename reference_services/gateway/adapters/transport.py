"""HTTP/1.1 to one upstream over a LIFO pool of keep-alive connections, as an httpx transport.

Why not httpcore's pool: it re-examines every pooled connection (a socket poll each) whenever a
request starts or ends, which made it most of the gateway's CPU at a few dozen concurrent requests
(encode/httpcore#929, #1035). This pool hands out the most recently used idle connection and
checks only that one; responses are parsed by httptools (the C parser uvicorn uses), one parser
per connection, and read whole (the gateway passes bodies on as bytes).

`exchange` is the gateway's lean path (bytes in, bytes out, no httpx models); httpx clients use the
same pool through `handle_async_request`. Timeouts: `connect` to open a connection, `pool` to wait
for one when all `max_connections` are busy, `read` for the whole response once the request is
written. Failures raise the httpx exceptions httpcore raises.
"""

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import cast

import httptools
import httpx

Header = tuple[bytes, bytes]


@dataclass(frozen=True)
class Timeouts:
    connect: float | None = 1.0
    read: float | None = 5.0
    pool: float | None = 1.0


@dataclass(frozen=True)
class Exchanged:
    status: int
    headers: list[Header]
    body: bytes


class _Connection(asyncio.Protocol):
    """One keep-alive connection: an asyncio protocol feeding the httptools parser."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.idle_since = 0.0
        self.lost = False
        self.waiter: asyncio.Future[None] | None = None
        self.begin()

    def begin(self) -> None:
        self.status = 0
        self.headers: list[Header] = []
        self.body: list[bytes] = []
        self.keep_alive = False

    def usable(self, now: float, keepalive_expiry: float) -> bool:
        return not self.lost and now - self.idle_since < keepalive_expiry

    async def exchange(self, request: bytes, wait_s: float | None) -> None:
        """Write the request and wait until its whole response is parsed."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self.begin()
        self.waiter = waiter = loop.create_future()
        self.transport.write(request)
        timer = loop.call_later(wait_s, self._time_out) if wait_s is not None else None
        try:
            await waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()

    def close(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, error: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)

    def _time_out(self) -> None:
        self._fail(httpx.ReadTimeout("no answer in time"))

    # asyncio protocol callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"bad response: {exc}"))
            self.close()

    def eof_received(self) -> bool:
        self.lost = True
        self._fail(httpx.RemoteProtocolError("the upstream closed the connection"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        reason = f": {exc}" if exc is not None else ""
        self._fail(httpx.ReadError(f"connection lost{reason}"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        # asked now: once the message is complete the parser resets for the next one
        self.keep_alive = bool(self.parser.should_keep_alive())
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class KeepAliveTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        host: str,
        port: int,
        *,
        max_connections: int = 100,
        keepalive_expiry: float = 4.0,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.host_header = f"{host}:{port}".encode()
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        self.timeouts = timeouts or Timeouts()
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(max_connections)

    async def exchange(
        self,
        method: str,
        target: bytes,
        headers: Sequence[Header],
        body: bytes = b"",
        timeouts: Timeouts | None = None,
    ) -> Exchanged:
        """Send one request (`target`: path and query) and read its whole response."""
        limits = timeouts or self.timeouts
        head = [b"%s %s HTTP/1.1\r\nhost: %s\r\n" % (method.encode(), target, self.host_header)]
        head += [b"%s: %s\r\n" % pair for pair in _without_framing(headers)]
        if body or method in ("POST", "PUT", "PATCH"):
            head.append(b"content-length: %d\r\n" % len(body))
        request = b"".join(head) + b"\r\n" + body
        await self._acquire_slot(limits.pool)
        try:
            connection = self._idle_connection() or await self._connect(limits.connect)
            try:
                await connection.exchange(request, limits.read)
            except BaseException:
                connection.close()
                raise
            exchanged = Exchanged(connection.status, connection.headers, b"".join(connection.body))
            if connection.keep_alive and len(self._idle) < self.max_connections:
                connection.idle_since = time.monotonic()
                self._idle.append(connection)
            else:
                connection.close()
        finally:
            self._slots.release()
        return exchanged

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        given = request.extensions.get("timeout", {})
        limits = Timeouts(
            given.get("connect", self.timeouts.connect),
            given.get("read", self.timeouts.read),
            given.get("pool", self.timeouts.pool),
        )
        try:
            headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"host"]
            got = await self.exchange(
                request.method, request.url.raw_path, headers, request.content, limits
            )
        except httpx.RequestError as exc:
            exc.request = request
            raise
        return httpx.Response(
            got.status,
            headers=got.headers,
            content=got.body,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def _acquire_slot(self, wait_s: float | None) -> None:
        if not self._slots.locked():
            await self._slots.acquire()
            return
        try:
            async with asyncio.timeout(wait_s):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no upstream connection free") from None

    def _idle_connection(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.usable(now, self.keepalive_expiry):
                return connection
            connection.close()
        return None

    async def _connect(self, wait_s: float | None) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(wait_s):
                _, connection = await loop.create_connection(_Connection, self.host, self.port)
        except TimeoutError:
            raise httpx.ConnectTimeout("connecting timed out") from None
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect: {exc.strerror or exc}") from None
        return connection

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop().close()

    async def __aenter__(self) -> "KeepAliveTransport":
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()


def _without_framing(headers: Iterable[Header]) -> Iterable[Header]:
    """The body is sent whole with its Content-Length: drop the caller's framing headers."""
    for name, value in headers:
        lowered = name.lower()
        if lowered not in (b"content-length", b"transfer-encoding", b"connection"):
            yield name, value
