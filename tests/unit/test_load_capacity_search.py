"""The capacity search's strategy on fake targets: a step is a pure function of the rate (passes
below a known capacity), and a fake clock that each step advances, so convergence, bounds,
budget and the order of the steps are exact."""

from dataclasses import replace

import pytest

from preflight.load.capacity import SearchConfig, Step, search


class FakeTarget:
    """Holds every SLO below `capacity`; each step costs `step_s` of the fake clock. Its
    breaches are clear ones (the executor stopped the step early) unless `marginal`."""

    def __init__(
        self,
        capacity: float,
        step_s: float = 10.0,
        invalid_above: float = 1e9,
        *,
        marginal: bool = False,
    ) -> None:
        self.capacity = capacity
        self.step_s = step_s
        self.invalid_above = invalid_above
        self.marginal = marginal
        self.now = 0.0
        self.rates: list[float] = []
        self.pooled_with: list[Step | None] = []

    def clock(self) -> float:
        return self.now

    def __call__(self, rate: float, *, again: Step | None = None) -> Step:
        self.now += self.step_s
        self.rates.append(rate)
        self.pooled_with.append(again)
        if rate > self.invalid_above:
            return Step(rate, passed=False, invalid=True)
        if rate < self.capacity:
            return Step(rate, passed=True)
        return Step(rate, passed=False, breaches=["order writes p99_ms"], clear=not self.marginal)


class StallsOnce(FakeTarget):
    """A target of `capacity` whose step at `stall_rate` breaks once, marginally, as a step
    with one stall (a checkpoint) in its few steady seconds does on a shared machine."""

    def __init__(self, capacity: float, stall_rate: float) -> None:
        super().__init__(capacity)
        self.stall_rate = stall_rate

    def __call__(self, rate: float, *, again: Step | None = None) -> Step:
        if rate == self.stall_rate and self.stall_rate not in self.rates:
            self.now += self.step_s
            self.rates.append(rate)
            self.pooled_with.append(again)
            return Step(rate, passed=False, breaches=["order writes p95_ms"])
        return super().__call__(rate, again=again)


CONFIG = SearchConfig(start_rps=10, factor=2, tolerance=0.1, budget_s=600, step_s=10)


@pytest.mark.parametrize("capacity", [13.0, 37.0, 100.0, 333.0, 1234.0])
def test_the_search_brackets_the_capacity_within_the_tolerance(capacity: float) -> None:
    target = FakeTarget(capacity)

    result = search(target, CONFIG, target.clock)

    assert result.status == "converged"
    low, high = result.band
    assert low is not None
    assert high is not None
    assert low < capacity <= high
    assert (high - low) / low <= CONFIG.tolerance
    assert result.max_sustainable_rps == low
    assert capacity * (1 - CONFIG.tolerance) <= low


def test_it_steps_up_geometrically_then_bisects_between_last_pass_and_first_fail() -> None:
    target = FakeTarget(100.0)

    result = search(target, CONFIG, target.clock)

    assert target.rates[:5] == [10, 20, 40, 80, 160]
    assert [s.phase for s in result.steps[:5]] == ["up"] * 5
    assert target.rates[5] == 120  # halfway between 80 (passed) and 160 (failed)
    assert all(s.phase == "bisect" for s in result.steps[5:])
    for earlier, rate in zip(target.rates[4:], target.rates[5:], strict=False):
        assert 80 <= rate <= 160
        assert rate != earlier


def test_the_first_breach_is_the_failing_step_at_the_lowest_rate() -> None:
    target = FakeTarget(100.0)

    result = search(target, CONFIG, target.clock)

    breach = result.first_breach
    assert breach is not None
    assert breach.rate == result.band[1]
    assert breach.breaches == ["order writes p99_ms"]


def test_a_first_step_that_fails_steps_down_then_bisects() -> None:
    target = FakeTarget(3.0)

    result = search(target, CONFIG, target.clock)

    assert target.rates[:4] == [10, 5, 2.5, 3.75]
    assert [s.phase for s in result.steps[:3]] == ["up", "down", "down"]
    assert result.status == "converged"
    low, high = result.band
    assert low is not None
    assert high is not None
    assert low < 3.0 <= high


def test_a_target_that_breaks_at_the_lowest_rate_has_no_capacity() -> None:
    target = FakeTarget(0.1)

    result = search(target, SearchConfig(start_rps=4, min_rps=1, step_s=10), target.clock)

    assert result.status == "too_slow"
    assert result.max_sustainable_rps is None
    assert target.rates == [4, 2, 1]


def test_a_target_that_holds_up_to_max_rps_is_reported_as_a_lower_bound() -> None:
    target = FakeTarget(1e6)

    result = search(target, SearchConfig(start_rps=10, max_rps=50, step_s=10), target.clock)

    assert result.status == "no_breach"
    assert target.rates == [10, 20, 40, 50]
    assert result.max_sustainable_rps is None
    assert result.band == (50, None)


def test_the_time_budget_bounds_the_search_and_keeps_the_band_so_far() -> None:
    target = FakeTarget(1000.0, step_s=10)

    result = search(target, SearchConfig(start_rps=10, budget_s=55, step_s=10), target.clock)

    assert result.status == "budget"
    assert len(target.rates) == 5  # a sixth step would end after 60 s
    assert target.now <= 55
    assert result.band == (160, None)


def test_the_budget_also_cuts_the_bisection_short() -> None:
    target = FakeTarget(100.0, step_s=10)

    result = search(target, SearchConfig(start_rps=10, budget_s=60, step_s=10), target.clock)

    assert result.status == "budget"
    assert result.band == (
        80,
        120,
    )  # 10, 20, 40, 80, 160, 120 (failed): a 7th step would end at 70 s
    assert result.max_sustainable_rps == 80


def test_a_saturated_generator_ends_the_search_as_invalid_not_as_a_capacity() -> None:
    target = FakeTarget(1000.0, invalid_above=50)

    result = search(target, CONFIG, target.clock)

    assert result.status == "invalid"
    assert result.max_sustainable_rps is None
    assert target.rates == [10, 20, 40, 80]


def test_steps_are_reported_as_they_finish() -> None:
    target = FakeTarget(100.0)
    seen: list[float] = []

    result = search(target, CONFIG, target.clock, on_step=lambda step: seen.append(step.rate))

    assert seen == [s.rate for s in result.steps]


def test_one_stall_in_a_step_does_not_move_the_answer() -> None:
    steady = FakeTarget(100.0)
    stalled = StallsOnce(100.0, stall_rate=80)

    expected = search(steady, CONFIG, steady.clock)
    result = search(stalled, CONFIG, stalled.clock)

    assert result.max_sustainable_rps == expected.max_sustainable_rps
    assert stalled.rates[:5] == [10, 20, 40, 80, 80]
    assert [s.superseded for s in result.steps[3:5]] == [True, False]
    assert result.steps[4].details["first_attempt_breaches"] == ["order writes p95_ms"]
    # The second attempt is judged together with the first (the executor pools them).
    assert stalled.pooled_with[4] is result.steps[3]
    assert [again for again in stalled.pooled_with if again is not None] == [result.steps[3]]


def test_a_marginal_breach_that_reproduces_is_a_breach() -> None:
    target = FakeTarget(100.0, marginal=True)

    result = search(target, CONFIG, target.clock)

    assert result.band == search(FakeTarget(100.0), CONFIG, FakeTarget(100.0).clock).band
    failing = [s.rate for s in result.steps if not s.passed]
    assert all(failing.count(rate) == 2 for rate in failing)
    breach = result.first_breach
    assert breach is not None
    assert not breach.superseded


def test_clear_breaches_and_a_search_told_not_to_confirm_run_each_rate_once() -> None:
    clear = FakeTarget(100.0)
    unconfirmed = FakeTarget(100.0, marginal=True)

    search(clear, CONFIG, clear.clock)
    search(unconfirmed, replace(CONFIG, confirm_breaches=False), unconfirmed.clock)

    for target in (clear, unconfirmed):
        assert len(set(target.rates)) == len(target.rates)


def test_a_breach_is_not_run_again_when_the_budget_has_no_room_for_it() -> None:
    target = FakeTarget(100.0, marginal=True)

    result = search(target, replace(CONFIG, budget_s=50), target.clock)

    assert result.status == "budget"
    assert target.rates == [10, 20, 40, 80, 160]
    assert not result.steps[-1].superseded


@pytest.mark.parametrize(
    "config",
    [
        SearchConfig(factor=1.0),
        SearchConfig(tolerance=0),
        SearchConfig(start_rps=0),
        SearchConfig(budget_s=5, step_s=10),
    ],
)
def test_a_config_that_cannot_search_is_refused(config: SearchConfig) -> None:
    with pytest.raises(ValueError, match="must"):
        search(FakeTarget(10), config, lambda: 0.0)
