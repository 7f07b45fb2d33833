"""The gateway's keep-alive pool against a small real HTTP/1.1 server on loopback."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pytest
import uvloop

from preflight.waits import wait_until_async
from reference_services.gateway.adapters.transport import KeepAliveTransport, Timeouts

OK = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok"
CHUNKED = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
CLOSING = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok"
CUT = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nok"  # then the server hangs up


@dataclass
class Server:
    """Answers each request with the next scripted reply; None leaves it unanswered."""

    replies: list[bytes | None]
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.lower().split(b"\r\n"):
                    if line.startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.requests.append(head + await reader.readexactly(length))
                reply = self.replies.pop(0) if self.replies else OK
                if reply is None:
                    await asyncio.sleep(60)
                    return
                writer.write(reply)
                await writer.drain()
                if reply in (CLOSING, CUT):
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


def serve(
    replies: list[bytes | None], scenario: Callable[[Server, KeepAliveTransport], Awaitable[None]]
) -> Server:
    server = Server(replies)

    async def main() -> None:
        listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        server.port = listening.sockets[0].getsockname()[1]
        transport = KeepAliveTransport(
            "127.0.0.1", server.port, max_connections=2, timeouts=Timeouts(1.0, 0.5, 0.2)
        )
        try:
            await scenario(server, transport)
        finally:
            await transport.aclose()
            listening.close()

    uvloop.run(main())  # the loop uvicorn runs the gateway on
    return server


def test_sequential_requests_share_one_connection() -> None:
    async def scenario(server: Server, transport: KeepAliveTransport) -> None:
        for _ in range(5):
            reply = await transport.exchange("GET", b"/orders/1", [(b"x-request-id", b"r1")])
            assert (reply.status, reply.body) == (200, b"ok")
            assert (b"content-type", b"text/plain") in reply.headers

    server = serve([], scenario)

    assert server.connections == 1
    assert server.requests[0].startswith(b"GET /orders/1 HTTP/1.1\r\nhost: 127.0.0.1:")
    assert b"x-request-id: r1\r\n" in server.requests[0]


def test_a_body_goes_with_its_length_and_a_chunked_answer_comes_back_whole() -> None:
    async def scenario(server: Server, transport: KeepAliveTransport) -> None:
        reply = await transport.exchange(
            "POST", b"/orders", [(b"transfer-encoding", b"chunked")], b'{"a": 1}'
        )
        assert reply.body == b"abcde"

    server = serve([CHUNKED], scenario)

    assert b"content-length: 8\r\n" in server.requests[0]
    assert b"transfer-encoding" not in server.requests[0]
    assert server.requests[0].endswith(b'\r\n\r\n{"a": 1}')


def test_a_connection_the_upstream_closes_is_not_reused() -> None:
    async def scenario(server: Server, transport: KeepAliveTransport) -> None:
        assert (await transport.exchange("GET", b"/a", [])).status == 200
        assert (await transport.exchange("GET", b"/b", [])).status == 200

    assert serve([CLOSING, OK], scenario).connections == 2


def test_failures_raise_the_httpx_exceptions() -> None:
    async def scenario(server: Server, transport: KeepAliveTransport) -> None:
        with pytest.raises(httpx.ReadTimeout):
            await transport.exchange("GET", b"/slow", [])
        with pytest.raises(httpx.RemoteProtocolError):
            await transport.exchange("GET", b"/cut", [])
        refused = KeepAliveTransport("127.0.0.1", 1, timeouts=Timeouts(1.0, 1.0, 1.0))
        with pytest.raises(httpx.ConnectError):
            await refused.exchange("GET", b"/", [])

    serve([None, CUT], scenario)


def test_a_full_pool_makes_the_next_request_wait_then_time_out() -> None:
    async def scenario(server: Server, transport: KeepAliveTransport) -> None:
        slow = [asyncio.create_task(transport.exchange("GET", b"/slow", [])) for _ in range(2)]

        async def both_in_flight() -> bool:
            return len(server.requests) == 2

        await wait_until_async(
            both_in_flight, timeout=5, description="both slow requests to arrive"
        )
        with pytest.raises(httpx.PoolTimeout):
            await transport.exchange("GET", b"/waits", [])
        for task in slow:
            with pytest.raises(httpx.ReadTimeout):
                await task

    serve([None, None], scenario)


def test_an_httpx_client_can_use_the_pool() -> None:
    async def scenario(server: Server, transport: KeepAliveTransport) -> None:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{server.port}", transport=transport
        ) as client:
            response = await client.get("/health/live", params={"q": "1 2"})
        assert (response.status_code, response.text) == (200, "ok")

    server = serve([], scenario)

    assert server.requests[0].startswith(b"GET /health/live?q=1+2 HTTP/1.1\r\n")
    assert server.requests[0].count(b"host:") + server.requests[0].count(b"Host:") == 1
