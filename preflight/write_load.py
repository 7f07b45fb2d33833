"""An open-model writer of orders that records every client operation, for fault tests.

Orders are due at a fixed arrival rate whatever the responses take (an open model: a stalled
server meets more and more requests in flight, as it would in production), each posted with its
order_ref as the Idempotency-Key. Every attempt is recorded in an `OperationHistory`: invoke,
then ok (2xx), fail (a definite 4xx) or info (a timeout, a reset, a 5xx, a 409 in flight, a
429: the outcome is unknown). An unknown outcome is retried with the same key, with
exponential backoff and full jitter, until it is ok or failed, or until `settle_s` after the
arrivals end, so that the checker can resolve it.

    with WriteLoad(url, headers, make_order, rate=50, duration_s=12).running() as load:
        with primary_crashed(state_dir): ...
    verdict = check_writes(load.history, final_state)

Runs an asyncio loop (httpx.AsyncClient) in a thread of its own, so synchronous tests can
inject faults while it writes. Bounded: rate x duration orders, `max_in_flight` at once.
"""

import asyncio
import contextlib
import itertools
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from preflight.history import OperationHistory

UNKNOWN_STATUSES = frozenset({408, 425, 429})
IN_FLIGHT_CONFLICT = "idempotency-in-flight"


@dataclass
class WriteLoad:
    url: str
    """Where orders are POSTed (the MES's /orders, or the gateway's /api/v1/orders)."""
    headers: Mapping[str, str]
    make_order: Callable[[int], dict[str, Any]]
    """The n-th order's body; its `order_ref` keys the history and the Idempotency-Key."""
    rate: float = 50.0
    duration_s: float = 12.0
    timeout_s: float = 5.0
    settle_s: float = 45.0
    retry_base_s: float = 0.25
    retry_cap_s: float = 4.0
    max_in_flight: int = 1000
    history: OperationHistory = field(default_factory=OperationHistory)
    due: int = 0
    dropped: int = 0
    attempts: int = 0
    started_at: float = 0.0
    arrival_window_s: float = 0.0
    seed: int = 0
    _random: random.Random = field(default_factory=random.Random)
    _thread: threading.Thread | None = None
    _error: BaseException | None = None

    @contextlib.contextmanager
    def running(self) -> Iterator["WriteLoad"]:
        """Writing in the background for the block; on leaving, waits for the run (arrivals and
        retries of unknown outcomes) to end."""
        self._random.seed(self.seed)
        self._thread = threading.Thread(target=self._run, name="write-load", daemon=True)
        self.started_at = time.monotonic()
        self._thread.start()
        try:
            yield self
        finally:
            self._thread.join(self.duration_s + self.settle_s + 30)
        if self._error is not None:
            raise self._error

    @property
    def achieved_rate(self) -> float:
        """Orders started per second over the arrival window (below `rate`: the generator fell
        behind, or writes were dropped at `max_in_flight`)."""
        started = self.due - self.dropped
        return started / self.arrival_window_s if self.arrival_window_s > 0 else 0.0

    def acknowledged(self) -> int:
        return sum("ok" in seen for seen in self.history.outcomes().values())

    def wait_for_acknowledged(self, count: int, timeout: float = 30.0) -> None:
        """Block until `count` writes were acknowledged (so a fault meets a busy system)."""
        from preflight.waits import wait_until

        wait_until(
            lambda: self.acknowledged() >= count,
            timeout=timeout,
            interval=0.1,
            description=f"{count} acknowledged writes",
        )

    def _run(self) -> None:
        try:
            asyncio.run(self._arrivals())
        except BaseException as error:  # re-raised in the test's thread
            self._error = error

    async def _arrivals(self) -> None:
        limits = httpx.Limits(max_connections=self.max_in_flight, max_keepalive_connections=64)
        async with httpx.AsyncClient(
            headers=dict(self.headers), timeout=self.timeout_s, limits=limits
        ) as client:
            tasks: set[asyncio.Task[None]] = set()
            begin = asyncio.get_running_loop().time()
            total = int(self.rate * self.duration_s)
            for n in range(total):
                due = begin + n / self.rate
                delay = due - asyncio.get_running_loop().time()
                if delay > 0:
                    await asyncio.sleep(delay)
                self.due += 1
                if len(tasks) >= self.max_in_flight:
                    self.dropped += 1
                    continue
                task = asyncio.create_task(self._write(client, self.make_order(n), due))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            self.arrival_window_s = max(
                asyncio.get_running_loop().time() - begin, (total - 1) / self.rate
            )
            if tasks:
                await asyncio.gather(*tasks)

    async def _write(self, client: httpx.AsyncClient, order: dict[str, Any], due: float) -> None:
        ref = str(order["order_ref"])
        deadline = due + self.duration_s + self.settle_s
        for attempt in itertools.count():
            self.history.invoke(ref)
            self.attempts += 1
            outcome, detail = await self._attempt(client, order, ref)
            self.history.record(outcome, ref, detail)
            if outcome != "info" or asyncio.get_running_loop().time() >= deadline:
                return
            # Exponential backoff with full jitter: retries of a crowd of clients must not
            # keep a recovering server saturated (a retry storm outlives the fault).
            ceiling = min(self.retry_cap_s, self.retry_base_s * 2**attempt)
            await asyncio.sleep(self._random.uniform(0, ceiling))

    async def _attempt(
        self, client: httpx.AsyncClient, order: dict[str, Any], ref: str
    ) -> tuple[Any, str]:
        try:
            response = await client.post(self.url, json=order, headers={"Idempotency-Key": ref})
        except httpx.HTTPError as error:
            return "info", type(error).__name__
        status = response.status_code
        if 200 <= status < 300:
            return "ok", str(response.json().get("id", ""))
        kind = _problem_type(response)
        if status >= 500 or status in UNKNOWN_STATUSES or kind == IN_FLIGHT_CONFLICT:
            return "info", f"{status} {kind}"
        return "fail", f"{status} {kind}"


def _problem_type(response: httpx.Response) -> str:
    with contextlib.suppress(ValueError):
        body = response.json()
        if isinstance(body, dict):
            return str(body.get("type", "")).rsplit("/", 1)[-1]
    return ""
