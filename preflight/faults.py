"""A TCP fault proxy (no tc, netem or toxiproxy here): put it between a client and a server and
make the path slow, or cut it.

    with FaultProxy(("127.0.0.1", mes_port), latency_s=0.5) as proxy:   # every request +0.5 s
        ... point the gateway at proxy.url ...
        proxy.cut()        # refuse new connections and drop the open ones
        proxy.restore()

Latency delays each chunk travelling client -> server, so every request on a connection is
late by it once (HTTP/1.1 sends a request in one or a few chunks). It runs an asyncio loop in a
thread of its own (`preflight.loop_server`), so synchronous tests can use it.
"""

import asyncio
import contextlib

from preflight.loop_server import LoopServer


class FaultProxy(LoopServer):
    what = "fault proxy"

    def __init__(self, upstream: tuple[str, int], *, latency_s: float = 0.0, port: int = 0) -> None:
        super().__init__(port)
        self.upstream = upstream
        self.latency_s = latency_s
        self.connections = 0
        self._cut = False
        self._writers: set[asyncio.StreamWriter] = set()

    def set_latency(self, seconds: float) -> None:
        self.latency_s = seconds

    def cut(self) -> None:
        """Refuse new connections and drop the open ones until restore()."""
        self._cut = True
        self._loop.call_soon_threadsafe(self.closing)

    def restore(self) -> None:
        self._cut = False

    def closing(self) -> None:
        for writer in list(self._writers):
            writer.close()

    async def pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: bool
    ) -> None:
        try:
            while chunk := await reader.read(65536):
                if delay and self.latency_s > 0:
                    await asyncio.sleep(self.latency_s)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.close()
            return
        try:
            server_r, server_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        self.connections += 1
        self._writers.update((writer, server_w))
        try:
            await asyncio.gather(
                self.pipe(reader, server_w, delay=True), self.pipe(server_r, writer, delay=False)
            )
        finally:
            self._writers.difference_update((writer, server_w))
