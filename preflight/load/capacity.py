"""The capacity search: the highest arrival rate at which every SLO holds.

Geometric steps up from a start rate (x `factor`) until a step breaks an SLO, then bisection
between the last passing and the first failing rate until the band between them is within
`tolerance` of the lower end. A first step that already fails steps down the same way. The
search stops, and says why, when:

    converged   the band [last pass, first fail] is narrow enough: capacity is its lower end
    budget      the next step would not fit in the time left: the band so far is the answer
    no_breach   every step up to max_rps held: capacity is at least max_rps (not a number)
    invalid     a step's generator was saturated: the measurement is of the generator, exit 5
    too_slow    even min_rps breaks an SLO: there is no sustainable rate to report

A breach must reproduce: a step that fails without a clear breach (the executor did not stop it
early) is run once more at the same rate, and the second attempt is judged on both attempts'
steady seconds together (the executor's `again`). On a shared machine one stall (a checkpoint,
a GC) in a step's few steady seconds otherwise moves the answer by a whole bisection step; but
taking the better of two attempts would move it the other way whenever the target sits near its
limit (a search of a target that holds 100/s passed 130/s on its second try). Pooled, a stall is
diluted over twice the seconds and a rate that breaks on average still fails. Both attempts are
kept in the steps, the first one marked `superseded`.

How one step is run (held for steady state, warm-up discarded, stopped early on a clear breach)
is the executor's business (preflight.load.capacity_run); this module is pure logic over a
`StepExecutor` and a clock, which is what the unit tests drive with fakes.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Status = Literal["converged", "budget", "no_breach", "invalid", "too_slow"]


@dataclass(frozen=True)
class SearchConfig:
    start_rps: float = 10.0
    factor: float = 2.0
    tolerance: float = 0.1
    """Stop bisecting when (first fail - last pass) / last pass is at most this."""
    min_rps: float = 0.5
    max_rps: float = 5000.0
    budget_s: float = 600.0
    """The whole search's time, all steps included."""
    confirm_breaches: bool = True
    """Run a step that failed without a clear breach once more before believing it."""
    step_s: float = 20.0
    """How long one step is planned to take: a step is only begun when this, or the longest
    step so far if longer (a drain after a breach, a slow start), fits in what is left."""

    def check(self) -> None:
        if self.start_rps <= 0 or self.min_rps <= 0 or self.max_rps < self.start_rps:
            raise ValueError("rates must be positive, with start <= max")
        if self.factor <= 1:
            raise ValueError("the step factor must be above 1")
        if not 0 < self.tolerance < 1:
            raise ValueError("the tolerance must be between 0 and 1 (e.g. 0.1 for 10 %)")
        if self.step_s <= 0 or self.budget_s < self.step_s:
            raise ValueError("the time budget must hold at least one step")


@dataclass
class Step:
    """One step's verdict as the search sees it, with whatever the executor measured."""

    rate: float
    passed: bool
    invalid: bool = False
    breaches: list[str] = field(default_factory=list)
    """The SLO rows that broke, "group objective" (empty when passed)."""
    phase: str = ""
    """"up", "down" or "bisect": which part of the search asked for it."""
    clear: bool = False
    """A failure beyond doubt (stopped early on errors or far-off latency): not run again."""
    superseded: bool = False
    """A marginal failure that was run again: the attempt after it holds the verdict."""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return "invalid" if self.invalid else ("pass" if self.passed else "fail")


class StepExecutor(Protocol):
    def __call__(self, rate: float, *, again: Step | None = None) -> Step:
        """Run a step at `rate` and judge it. `again`: an earlier attempt at the same rate that
        failed marginally; judge this attempt together with that one's steady seconds."""
        ...


@dataclass
class SearchResult:
    status: Status
    reason: str
    steps: list[Step]
    last_pass: float | None
    first_fail: float | None

    @property
    def max_sustainable_rps(self) -> float | None:
        """The highest rate that held, when the search found a ceiling above it."""
        if self.status in ("invalid", "too_slow", "no_breach"):
            return None
        return self.last_pass

    @property
    def band(self) -> tuple[float | None, float | None]:
        return self.last_pass, self.first_fail

    @property
    def first_breach(self) -> Step | None:
        """The failing step at the lowest rate: the first SLO to break, and where."""
        failed = [s for s in self.steps if not s.passed and not s.invalid and not s.superseded]
        return min(failed, key=lambda s: s.rate) if failed else None


def search(
    execute: StepExecutor,
    config: SearchConfig,
    clock: Callable[[], float],
    on_step: Callable[[Step], None] | None = None,
) -> SearchResult:
    config.check()
    began = clock()
    steps: list[Step] = []
    last_pass: float | None = None
    first_fail: float | None = None

    def done(status: Status, reason: str) -> SearchResult:
        return SearchResult(status, reason, steps, last_pass, first_fail)

    longest = config.step_s

    def run(rate: float, phase: str, again: Step | None = None) -> Step:
        nonlocal longest
        at = clock()
        step = execute(round(rate, 2), again=again)
        longest = max(longest, clock() - at)
        step.phase = phase
        steps.append(step)
        return step

    def report(step: Step) -> Step:
        if on_step is not None:
            on_step(step)
        return step

    def fits() -> bool:
        return clock() - began + longest <= config.budget_s

    def judged(rate: float, phase: str) -> Step:
        step = run(rate, phase)
        if step.passed or step.invalid or step.clear or not config.confirm_breaches or not fits():
            return report(step)
        step.superseded = True
        report(step)
        second = run(step.rate, phase, again=step)
        second.details["first_attempt_breaches"] = step.breaches
        return report(second)

    rate = config.start_rps
    phase = "up"
    while last_pass is None or first_fail is None:
        if not fits():
            return done("budget", _budget_reason(last_pass, first_fail))
        step = judged(rate, phase)
        if step.invalid:
            return done("invalid", f"the generator could not drive {step.rate:g}/s")
        if step.passed:
            last_pass = step.rate
            if first_fail is not None:
                break
            if step.rate >= config.max_rps:
                return done("no_breach", f"every SLO held up to max_rps {config.max_rps:g}/s")
            rate = min(step.rate * config.factor, config.max_rps)
        else:
            first_fail = step.rate if first_fail is None else min(first_fail, step.rate)
            if last_pass is not None:
                break
            if step.rate <= config.min_rps:
                return done("too_slow", f"SLOs break even at min_rps {config.min_rps:g}/s")
            rate, phase = max(step.rate / config.factor, config.min_rps), "down"
    while (first_fail - last_pass) / last_pass > config.tolerance:
        if not fits():
            return done("budget", _budget_reason(last_pass, first_fail))
        step = judged((last_pass + first_fail) / 2, "bisect")
        if step.invalid:
            return done("invalid", f"the generator could not drive {step.rate:g}/s")
        if step.passed:
            last_pass = max(last_pass, step.rate)
        else:
            first_fail = min(first_fail, step.rate)
    return done(
        "converged",
        f"band [{last_pass:g}, {first_fail:g}]/s within {config.tolerance:.0%}",
    )


def _budget_reason(last_pass: float | None, first_fail: float | None) -> str:
    band = f"[{last_pass if last_pass is not None else '?'}, {first_fail or '?'}]/s"
    return f"time budget spent with the band at {band}"
