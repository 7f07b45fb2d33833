"""A circuit breaker per upstream: stop sending to an upstream that keeps failing.

closed --N consecutive failures--> open --cool-down over, next call is the trial--> half-open
half-open --trial succeeds--> closed;  half-open --trial fails--> open (a new cool-down).

While open, and while the trial is in flight, calls are refused at once. Only the trial's result
moves a half-open breaker; results of calls admitted before it opened are ignored.
"""

import time
from collections.abc import Callable
from enum import IntEnum


class BreakerState(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitOpen(Exception):
    """The breaker refuses the call; try again after `retry_after_s`."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"circuit open, retry after {retry_after_s:.1f}s")
        self.retry_after_s = retry_after_s


class CircuitBreaker:
    def __init__(
        self,
        threshold: int,
        cooldown_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        if threshold < 1 or cooldown_s <= 0:
            raise ValueError("threshold must be >= 1 and cooldown_s > 0")
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.on_change = on_change
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.trial_in_flight = False

    def admit(self) -> bool:
        """Let a call through, or raise CircuitOpen. Returns True when the call is the trial."""
        if self.state is BreakerState.CLOSED:
            return False
        if self.state is BreakerState.OPEN:
            if self.clock() - self.opened_at < self.cooldown_s:
                raise CircuitOpen(self.retry_after_s())
            self._move(BreakerState.HALF_OPEN)
        if self.trial_in_flight:
            raise CircuitOpen(self.retry_after_s())
        self.trial_in_flight = True
        return True

    def succeeded(self, trial: bool) -> None:
        if self.state is BreakerState.CLOSED:
            self.failures = 0
        elif trial and self.state is BreakerState.HALF_OPEN:
            self.trial_in_flight = False
            self.failures = 0
            self._move(BreakerState.CLOSED)

    def failed(self, trial: bool) -> None:
        if self.state is BreakerState.CLOSED:
            self.failures += 1
            if self.failures >= self.threshold:
                self._open()
        elif trial and self.state is BreakerState.HALF_OPEN:
            self.trial_in_flight = False
            self._open()

    def abandoned(self, trial: bool) -> None:
        """The call ended without a verdict (cancelled): a half-open breaker admits a new trial."""
        if trial and self.state is BreakerState.HALF_OPEN:
            self.trial_in_flight = False

    def retry_after_s(self) -> float:
        if self.state is BreakerState.OPEN:
            return max(self.opened_at + self.cooldown_s - self.clock(), 0.0)
        return 0.0 if self.state is BreakerState.CLOSED else self.cooldown_s

    def _open(self) -> None:
        self.opened_at = self.clock()
        self._move(BreakerState.OPEN)

    def _move(self, state: BreakerState) -> None:
        if state is not self.state:
            self.state = state
            if self.on_change is not None:
                self.on_change(state)
