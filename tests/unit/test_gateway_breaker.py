"""The circuit breaker's state machine, on a clock the test moves."""

import pytest

from reference_services.gateway.domain.breaker import BreakerState, CircuitBreaker, CircuitOpen


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def changes() -> list[BreakerState]:
    return []


@pytest.fixture
def breaker(clock: Clock, changes: list[BreakerState]) -> CircuitBreaker:
    return CircuitBreaker(3, 10.0, clock=clock, on_change=changes.append)


def fail_until_open(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.threshold):
        breaker.failed(breaker.admit())


def test_a_closed_breaker_lets_calls_through_and_forgives_failures_after_a_success(
    breaker: CircuitBreaker,
) -> None:
    for _ in range(10):
        breaker.failed(breaker.admit())
        breaker.failed(breaker.admit())
        breaker.succeeded(breaker.admit())

    assert breaker.state is BreakerState.CLOSED


def test_it_opens_after_threshold_consecutive_failures_and_refuses_at_once(
    breaker: CircuitBreaker, clock: Clock, changes: list[BreakerState]
) -> None:
    fail_until_open(breaker)
    clock.now += 4

    with pytest.raises(CircuitOpen) as refused:
        breaker.admit()

    assert breaker.state is BreakerState.OPEN
    assert refused.value.retry_after_s == pytest.approx(6.0)
    assert changes == [BreakerState.OPEN]


def test_after_the_cool_down_one_trial_goes_through_and_its_success_closes_it(
    breaker: CircuitBreaker, clock: Clock, changes: list[BreakerState]
) -> None:
    fail_until_open(breaker)
    clock.now += 10

    trial = breaker.admit()

    assert trial is True
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpen):
        breaker.admit()  # only one trial at a time
    breaker.succeeded(trial)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.admit() is False
    assert changes == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


def test_a_failed_trial_opens_it_for_another_full_cool_down(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    fail_until_open(breaker)
    clock.now += 11
    breaker.failed(breaker.admit())
    clock.now += 9.5

    with pytest.raises(CircuitOpen) as refused:
        breaker.admit()

    assert breaker.state is BreakerState.OPEN
    assert refused.value.retry_after_s == pytest.approx(0.5)


def test_results_of_calls_admitted_before_it_opened_do_not_decide_the_trial(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    straggler = breaker.admit()
    fail_until_open(breaker)
    clock.now += 10
    trial = breaker.admit()

    breaker.failed(straggler)
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.succeeded(straggler)
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.succeeded(trial)
    assert breaker.state is BreakerState.CLOSED


def test_an_abandoned_trial_lets_the_next_call_be_the_trial(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    fail_until_open(breaker)
    clock.now += 10
    breaker.abandoned(breaker.admit())

    assert breaker.admit() is True


def test_failures_while_open_do_not_extend_the_cool_down(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    in_flight = [breaker.admit() for _ in range(5)]
    for trial in in_flight[:3]:
        breaker.failed(trial)
    clock.now += 9
    for trial in in_flight[3:]:
        breaker.failed(trial)
    clock.now += 1

    assert breaker.admit() is True


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="threshold"):
        CircuitBreaker(0, 1.0)
    with pytest.raises(ValueError, match="cooldown"):
        CircuitBreaker(1, 0.0)
