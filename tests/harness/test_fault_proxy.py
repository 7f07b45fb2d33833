"""The fault proxy's toxics against real sockets: an echo server behind it, a plain socket client
in front. Times are only bounded from below (a limit cannot make data arrive early; a noisy
machine only makes it later)."""

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from preflight.faults import Bandwidth, FaultProxy, Latency, ResetPeer, Slicer, Timeout
from preflight.loop_server import LoopServer


class EchoServer(LoopServer):
    what = "echo server"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    with EchoServer() as echo, FaultProxy(("127.0.0.1", echo.port)) as proxy:
        yield proxy


def connect(proxy: FaultProxy, timeout: float = 5.0) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout)
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


def receive(client: socket.socket, size: int) -> list[bytes]:
    """Every read until `size` bytes came back (the reads, to count how the data arrived)."""
    reads: list[bytes] = []
    while sum(map(len, reads)) < size:
        data = client.recv(65536)
        if not data:
            break
        reads.append(data)
    return reads


def exchange(client: socket.socket, data: bytes) -> bytes:
    """Send and read the answer; a connection closed without one raises like a reset."""
    client.sendall(data)
    answer = client.recv(65536)
    if not answer:
        raise ConnectionResetError("closed without an answer")
    return answer


def test_the_proxy_passes_data_both_ways_untouched(proxy: FaultProxy) -> None:
    payload = bytes(range(256)) * 400
    with connect(proxy) as client:
        client.sendall(payload)
        assert b"".join(receive(client, len(payload))) == payload


def test_latency_with_jitter_delays_each_answer_by_at_least_latency_minus_jitter(
    proxy: FaultProxy,
) -> None:
    with proxy.toxic(Latency(0.4, jitter_s=0.1)), connect(proxy) as client:
        for _ in range(2):
            began = time.monotonic()
            client.sendall(b"ping")
            assert b"".join(receive(client, 4)) == b"ping"
            assert time.monotonic() - began >= 0.3
    assert proxy.toxics == {}


def test_a_black_hole_swallows_data_and_the_client_times_out(proxy: FaultProxy) -> None:
    with connect(proxy, timeout=0.5) as client:
        with proxy.toxic(Timeout(stream="upstream")):
            client.sendall(b"lost")
            with pytest.raises(TimeoutError):
                client.recv(10)
        # The connection was never closed: once healed, the next request goes through.
        client.settimeout(5)
        client.sendall(b"back")
        assert b"".join(receive(client, 4)) == b"back"


def test_a_timeout_closes_the_connection_after_its_delay(proxy: FaultProxy) -> None:
    with (
        proxy.toxic(Timeout(timeout_s=0.2)),
        connect(proxy) as client,
        pytest.raises(ConnectionResetError),
    ):
        exchange(client, b"gone")


def test_reset_peer_resets_open_and_new_connections(proxy: FaultProxy) -> None:
    with connect(proxy) as open_before:
        open_before.sendall(b"hi")
        assert receive(open_before, 2) == [b"hi"]
        with proxy.toxic(ResetPeer()):
            with pytest.raises((ConnectionResetError, BrokenPipeError)):
                exchange(open_before, b"again")
            # The reset may land before connect() returns: either way the new connection is refused.
            with pytest.raises((ConnectionResetError, BrokenPipeError)), connect(proxy) as new:
                exchange(new, b"new")
    with connect(proxy) as healed:
        healed.sendall(b"ok")
        assert receive(healed, 2) == [b"ok"]


def test_bandwidth_limits_the_rate_of_a_payload_far_beyond_one_slice(proxy: FaultProxy) -> None:
    payload = b"x" * 60_000  # 2 s at 30 kB/s; unlimited it takes a millisecond
    with proxy.toxic(Bandwidth(30_000)), connect(proxy) as client:
        began = time.monotonic()
        client.sendall(payload)
        assert len(b"".join(receive(client, len(payload)))) == len(payload)
        assert time.monotonic() - began >= 1.5


def test_the_slicer_cuts_a_message_into_many_small_reads(proxy: FaultProxy) -> None:
    payload = b"y" * 1000
    with proxy.toxic(Slicer(100, size_variation=20, delay_s=0.03)), connect(proxy) as client:
        client.sendall(payload)
        reads = receive(client, len(payload))
    assert b"".join(reads) == payload
    assert len(reads) >= 4, [len(r) for r in reads]


def test_a_toxic_is_removed_however_its_block_is_left(proxy: FaultProxy) -> None:
    with pytest.raises(RuntimeError), proxy.toxic(Timeout()):
        raise RuntimeError("the test failed inside the fault")
    assert proxy.toxics == {}
    with connect(proxy) as client:
        client.sendall(b"fine")
        assert receive(client, 4) == [b"fine"]


def test_down_refuses_connections_until_the_block_ends(proxy: FaultProxy) -> None:
    with proxy.down(), connect(proxy) as client:
        assert client.recv(10) == b""
    with connect(proxy) as client:
        client.sendall(b"up")
        assert receive(client, 2) == [b"up"]
