"""A TCP server on loopback whose asyncio loop runs in a thread of its own, so synchronous
tests can start, use and stop it (the calibrated servers, the fault proxy)."""

import asyncio
import threading
from types import TracebackType
from typing import Self


class LoopServer:
    what = "server"

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    def started(self) -> None:
        """Called on the loop once the server listens."""

    def closing(self) -> None:
        """Called on the loop when the server stops."""

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._server = await asyncio.start_server(
                self.handle, "127.0.0.1", self._port, backlog=1024
            )
            self._port = self._server.sockets[0].getsockname()[1]
            self.started()
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()
        # Connections still open when the server stopped: end their handlers before closing.
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()

    def __enter__(self) -> Self:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"the {self.what} did not start")
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
            self.closing()
            self._loop.stop()

        self._loop.call_soon_threadsafe(close)
        self._thread.join(10)
