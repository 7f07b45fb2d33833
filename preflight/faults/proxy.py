"""A TCP fault proxy with Toxiproxy's vocabulary (no tc, netem or toxiproxy here): put it between
a client and a server and make the path slow, thin, silent or broken, at runtime.

    with FaultProxy(("127.0.0.1", mes_port)) as proxy:
        ... point the gateway at proxy.url ...
        with proxy.toxic(Latency(0.2, jitter_s=0.05)):   # every chunk downstream 150-250 ms late
            ...
        with proxy.toxic(Timeout()):                     # data goes nowhere, nothing closes
            ...
        with proxy.toxic(ResetPeer()):                   # every connection reset (RST)
            ...
        with proxy.down():                               # refused, and the open ones dropped
            ...

A toxic acts on one direction: "downstream" (server -> client, Toxiproxy's default) or
"upstream" (client -> server). Leaving a `toxic(...)` or `down()` block always removes the fault,
whatever happened inside it. The proxy runs an asyncio loop in a thread of its own
(`preflight.loop_server`), so synchronous tests can use it.
"""

import asyncio
import contextlib
import random
import socket
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from preflight.loop_server import LoopServer

Stream = Literal["upstream", "downstream"]
CHUNK = 65536


@dataclass(frozen=True)
class Latency:
    """Each chunk waits `latency_s` plus or minus up to `jitter_s` (uniform) before it goes on."""

    latency_s: float
    jitter_s: float = 0.0
    stream: Stream = "downstream"


@dataclass(frozen=True)
class Bandwidth:
    """At most `bytes_per_s` pass, in slices of a twentieth of a second."""

    bytes_per_s: int
    stream: Stream = "downstream"


@dataclass(frozen=True)
class Timeout:
    """A black hole: data is swallowed; after `timeout_s` (0: never) the connection is closed."""

    timeout_s: float = 0.0
    stream: Stream = "downstream"


@dataclass(frozen=True)
class ResetPeer:
    """Connections are reset (TCP RST, no FIN) `timeout_s` after the data starts (0: at once);
    open connections are reset when the toxic is added."""

    timeout_s: float = 0.0
    stream: Stream = "downstream"


@dataclass(frozen=True)
class Slicer:
    """Chunks are cut into slices of about `average_size` bytes (+- `size_variation`), each sent
    `delay_s` after the previous: a peer that reads whatever arrives sees many small reads."""

    average_size: int
    size_variation: int = 0
    delay_s: float = 0.0
    stream: Stream = "downstream"


Toxic = Latency | Bandwidth | Timeout | ResetPeer | Slicer


class FaultProxy(LoopServer):
    what = "fault proxy"

    def __init__(
        self, upstream: tuple[str, int], *, latency_s: float = 0.0, port: int = 0, seed: int = 0
    ) -> None:
        super().__init__(port)
        self.upstream = upstream
        self.connections = 0
        self._cut = False
        self._toxics: dict[str, Toxic] = {}
        self._writers: set[asyncio.StreamWriter] = set()
        self._random = random.Random(seed)
        if latency_s > 0:
            self.add(Latency(latency_s, stream="upstream"), name="latency")

    # -- runtime control ---------------------------------------------------------------------

    def add(self, toxic: Toxic, *, name: str | None = None) -> str:
        """Add a toxic (to open and new connections); returns its name for remove()."""
        name = name or f"{type(toxic).__name__.lower()}-{uuid.uuid4().hex[:6]}"
        self._toxics = self._toxics | {name: toxic}
        if isinstance(toxic, ResetPeer) and toxic.timeout_s == 0:
            self._loop.call_soon_threadsafe(self._reset_all)
        return name

    def remove(self, name: str) -> None:
        self._toxics = {k: v for k, v in self._toxics.items() if k != name}

    def clear(self) -> None:
        self._toxics = {}

    @property
    def toxics(self) -> dict[str, Toxic]:
        return dict(self._toxics)

    @contextlib.contextmanager
    def toxic(self, toxic: Toxic) -> Iterator[str]:
        """The toxic for the block; removed on leaving it, however it is left."""
        name = self.add(toxic)
        try:
            yield name
        finally:
            self.remove(name)

    def set_latency(self, seconds: float) -> None:
        """The upstream latency of every request (the proxy's first, simplest fault)."""
        self.remove("latency")
        if seconds > 0:
            self.add(Latency(seconds, stream="upstream"), name="latency")

    @property
    def latency_s(self) -> float:
        toxic = self._toxics.get("latency")
        return toxic.latency_s if isinstance(toxic, Latency) else 0.0

    def cut(self) -> None:
        """Refuse new connections and drop the open ones until restore()."""
        self._cut = True
        self._loop.call_soon_threadsafe(self.closing)

    def restore(self) -> None:
        self._cut = False

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """The upstream unreachable through the proxy for the block (cut, then restored)."""
        self.cut()
        try:
            yield
        finally:
            self.restore()

    # -- the loop side -----------------------------------------------------------------------

    def closing(self) -> None:
        for writer in list(self._writers):
            writer.close()

    def _reset_all(self) -> None:
        for writer in list(self._writers):
            _reset(writer)

    def _active(self, stream: Stream) -> list[Toxic]:
        return [t for t in self._toxics.values() if t.stream == stream]

    def _jittered(self, toxic: Latency) -> float:
        if toxic.jitter_s <= 0:
            return toxic.latency_s
        return max(0.0, toxic.latency_s + self._random.uniform(-toxic.jitter_s, toxic.jitter_s))

    def _slices(self, chunk: bytes, toxic: Slicer) -> Iterator[bytes]:
        at = 0
        while at < len(chunk):
            low = max(1, toxic.average_size - toxic.size_variation)
            size = self._random.randint(low, toxic.average_size + toxic.size_variation)
            yield chunk[at : at + size]
            at += size

    async def _forward(self, chunk: bytes, writer: asyncio.StreamWriter, stream: Stream) -> bool:
        """Send one chunk through the stream's toxics; False when the connection must end."""
        toxics = self._active(stream)
        for toxic in toxics:
            if isinstance(toxic, ResetPeer):
                if toxic.timeout_s > 0:
                    await asyncio.sleep(toxic.timeout_s)
                return False
            if isinstance(toxic, Timeout):
                if toxic.timeout_s > 0:
                    await asyncio.sleep(toxic.timeout_s)
                    return False
                return True  # swallowed
        for toxic in toxics:
            if isinstance(toxic, Latency):
                await asyncio.sleep(self._jittered(toxic))
        pieces = [chunk]
        slicer = next((t for t in toxics if isinstance(t, Slicer)), None)
        if slicer is not None:
            pieces = list(self._slices(chunk, slicer))
        bandwidth = next((t for t in toxics if isinstance(t, Bandwidth)), None)
        for index, piece in enumerate(pieces):
            if slicer is not None and index > 0 and slicer.delay_s > 0:
                await asyncio.sleep(slicer.delay_s)
            if bandwidth is None:
                writer.write(piece)
                await writer.drain()
                continue
            step = max(1, bandwidth.bytes_per_s // 20)
            for at in range(0, len(piece), step):
                writer.write(piece[at : at + step])
                await writer.drain()
                await asyncio.sleep(len(piece[at : at + step]) / bandwidth.bytes_per_s)
        return True

    async def pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        stream: Stream,
        peer: asyncio.StreamWriter,
    ) -> None:
        try:
            while chunk := await reader.read(CHUNK):
                if not await self._forward(chunk, writer, stream):
                    _reset(writer)
                    _reset(peer)
                    return
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.close()
            return
        if any(isinstance(t, ResetPeer) and t.timeout_s == 0 for t in self._toxics.values()):
            _reset(writer)
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
                self.pipe(reader, server_w, "upstream", writer),
                self.pipe(server_r, writer, "downstream", server_w),
            )
        finally:
            self._writers.difference_update((writer, server_w))


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN: SO_LINGER on, zero seconds, then abort."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
