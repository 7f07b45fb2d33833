"""Calibrated HTTP servers: targets whose behaviour is known by construction, to test the load
harness's measurements and gates deterministically.

- capacity: at most `concurrency` requests served at once, each taking `service_time_s`, the
  rest queueing: the server sustains exactly concurrency / service_time_s requests per second.
- stalls: every `stall_every_s` seconds the server answers nothing for `stall_s` (a GC pause, a
  failover): what coordinated omission hides.

    with CalibratedServer(concurrency=4, service_time_s=0.02) as server:   # 200 requests/s
        ... load server.url ...
    python -m preflight.calibration --concurrency 4 --service-time 0.02 --port 8099
"""

import argparse
import asyncio
import threading
import time

from preflight.loop_server import LoopServer

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class CalibratedServer(LoopServer):
    what = "calibrated server"

    def __init__(
        self,
        *,
        concurrency: int = 0,
        service_time_s: float = 0.0,
        stall_every_s: float = 0.0,
        stall_s: float = 0.0,
        port: int = 0,
    ) -> None:
        super().__init__(port)
        self.concurrency = concurrency
        self.service_time_s = service_time_s
        self.stall_every_s = stall_every_s
        self.stall_s = stall_s
        self.requests = 0
        self._slots: asyncio.Semaphore | None = None
        self._started = time.monotonic()

    @property
    def capacity_rps(self) -> float | None:
        """Requests per second it sustains, by construction (None: unbounded)."""
        if self.concurrency <= 0 or self.service_time_s <= 0:
            return None
        return self.concurrency / self.service_time_s

    def started(self) -> None:
        self._slots = asyncio.Semaphore(self.concurrency) if self.concurrency > 0 else None
        self._started = time.monotonic()

    async def answer(self) -> None:
        if self.stall_every_s > 0:
            phase = (time.monotonic() - self._started) % self.stall_every_s
            if phase >= self.stall_every_s - self.stall_s:
                await asyncio.sleep(self.stall_every_s - phase)
        if self.service_time_s > 0:
            await asyncio.sleep(self.service_time_s)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                if self._slots is not None:
                    async with self._slots:
                        await self.answer()
                else:
                    await self.answer()
                self.requests += 1
                writer.write(RESPONSE)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=0)
    parser.add_argument("--service-time", type=float, default=0.0)
    parser.add_argument("--stall-every", type=float, default=0.0)
    parser.add_argument("--stall", type=float, default=0.0)
    args = parser.parse_args()
    server = CalibratedServer(
        concurrency=args.concurrency,
        service_time_s=args.service_time,
        stall_every_s=args.stall_every,
        stall_s=args.stall,
        port=args.port,
    )
    with server:
        print(server.url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
