"""A TCP fault proxy (no tc, netem or toxiproxy here): put it between a client and a server and
make the path slow, or cut it.

    with FaultProxy(("127.0.0.1", mes_port), latency_s=0.5) as proxy:   # every request +0.5 s
        ... point the gateway at proxy.url ...
        proxy.cut()        # refuse new connections and drop the open ones
        proxy.restore()

Latency delays each chunk travelling client -> server, so every request on a connection is
late by it once (HTTP/1.1 sends a request in one or a few chunks). It runs an asyncio loop in a
thread of its own, so synchronous tests can use it.
"""

import asyncio
import contextlib
import threading
from types import TracebackType
from typing import Self


class FaultProxy:
    def __init__(self, upstream: tuple[str, int], *, latency_s: float = 0.0, port: int = 0) -> None:
        self.upstream = upstream
        self.latency_s = latency_s
        self.connections = 0
        self._cut = False
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def set_latency(self, seconds: float) -> None:
        self.latency_s = seconds

    def cut(self) -> None:
        """Refuse new connections and drop the open ones until restore()."""
        self._cut = True
        self._loop.call_soon_threadsafe(self._drop_all)

    def restore(self) -> None:
        self._cut = False

    def _drop_all(self) -> None:
        for writer in list(self._writers):
            writer.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def pipe(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: bool
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

        async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
            if self._cut:
                client_w.close()
                return
            try:
                server_r, server_w = await asyncio.open_connection(*self.upstream)
            except OSError:
                client_w.close()
                return
            self.connections += 1
            self._writers.update((client_w, server_w))
            try:
                await asyncio.gather(
                    pipe(client_r, server_w, delay=True), pipe(server_r, client_w, delay=False)
                )
            finally:
                self._writers.difference_update((client_w, server_w))

        async def start() -> None:
            self._server = await asyncio.start_server(handle, "127.0.0.1", self._port)
            self._port = self._server.sockets[0].getsockname()[1]
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def __enter__(self) -> Self:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fault proxy did not start")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        def close() -> None:
            if self._server is not None:
                self._server.close()
            self._drop_all()
            self._loop.stop()

        self._loop.call_soon_threadsafe(close)
        self._thread.join(10)
