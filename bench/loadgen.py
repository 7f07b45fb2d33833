"""A closed-loop HTTP/1.1 load generator for the benchmarks: `concurrency` keep-alive connections
on uvloop, each sending its next request as soon as the previous answer is in, for `duration`
seconds. Requests are prepared raw bytes, sent round-robin, so that the generator spends its CPU
on sockets rather than on building requests; a request holding SEQUENCE gets a unique number there
each time it is sent (for writes that must not repeat, such as new orders). Run it in a process
of its own (run_phase is the entry point; see bench/orders.py and bench/gateway.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

LOOPBACK = "127.0.0.1"
SEQUENCE = b"<<<SEQUENCE>>>"
"""In a request, replaced by a number unique in the phase (same width, so Content-Length holds)."""


@dataclass(frozen=True)
class Phase:
    port: int
    requests: tuple[bytes, ...]
    duration: float
    concurrency: int


@dataclass(frozen=True)
class PhaseResult:
    statuses: dict[int, int]
    seconds: float
    generator_cpu_seconds: float
    latencies_ms: list[float] = field(repr=False)

    @property
    def completed(self) -> int:
        return sum(self.statuses.values())

    @property
    def ok(self) -> int:
        return sum(count for status, count in self.statuses.items() if 200 <= status < 300)


def request(
    method: str, path: str, headers: Mapping[str, str] | None = None, body: bytes = b""
) -> bytes:
    """One raw HTTP/1.1 request (keep-alive, Content-Length when there is a body)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: bench"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lowered = head.lower()
    at = lowered.find(b"\r\ncontent-length:")
    if at < 0:
        raise RuntimeError(f"response without content-length: {head[:200]!r}")
    end = lowered.index(b"\r\n", at + 2)
    await reader.readexactly(int(lowered[at + 17 : end]))
    return int(head[9:12])


async def _connection(
    phase: Phase, worker: int, stop_at: float, statuses: dict[int, int], latencies: list[float]
) -> None:
    reader, writer = await asyncio.open_connection(LOOPBACK, phase.port)
    clock = asyncio.get_running_loop().time
    requests = phase.requests
    n = worker * 7919
    try:
        while clock() < stop_at:
            began = clock()
            raw = requests[n % len(requests)]
            if SEQUENCE in raw:
                raw = raw.replace(SEQUENCE, b"%04d%010d" % (worker, n))
            writer.write(raw)
            status = await _read_response(reader)
            latencies.append(clock() - began)
            statuses[status] = statuses.get(status, 0) + 1
            n += 1
    finally:
        writer.close()


async def _drive(phase: Phase) -> PhaseResult:
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    loop = asyncio.get_running_loop()
    cpu, began = time.process_time(), loop.time()
    stop_at = began + phase.duration
    await asyncio.gather(
        *(_connection(phase, w, stop_at, statuses, latencies) for w in range(phase.concurrency))
    )
    return PhaseResult(
        statuses=statuses,
        seconds=loop.time() - began,
        generator_cpu_seconds=time.process_time() - cpu,
        latencies_ms=[latency * 1000 for latency in latencies],
    )


def run_phase(phase: Phase) -> PhaseResult:
    """Entry point of the generator process."""
    import uvloop

    return uvloop.run(_drive(phase))
