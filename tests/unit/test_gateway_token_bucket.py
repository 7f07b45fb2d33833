"""The token bucket model the gateway's Redis script implements (the script itself is checked
against this model on a real Redis in tests/api/test_gateway_rate_limit.py), and the limiter's
behaviour when Redis is gone."""

import pytest
import uvloop
from redis.asyncio import Redis

from preflight.ports import free_port
from reference_services.gateway.adapters.rate_limiter import Allowance, RateLimiter
from reference_services.gateway.domain.token_bucket import (
    Bucket,
    idle_expiry_s,
    retry_after_header,
    take,
)


def run(times: list[float], per_second: float, burst: int) -> list[bool]:
    bucket: Bucket | None = None
    allowed = []
    for now in times:
        decision = take(bucket, now, per_second, burst)
        bucket = decision.bucket
        allowed.append(decision.allowed)
    return allowed


def test_a_new_caller_may_spend_its_burst_at_once_then_waits_for_a_refill() -> None:
    assert run([0.0] * 4, per_second=1.0, burst=3) == [True, True, True, False]


def test_tokens_come_back_at_the_rate() -> None:
    assert run([0.0, 0.0, 0.0, 0.5, 1.0, 1.0, 3.0], per_second=1.0, burst=2) == [
        True,
        True,
        False,
        False,
        True,
        False,
        True,
    ]


def test_a_refill_never_exceeds_the_burst() -> None:
    assert run([0.0, 1000.0, 1000.0, 1000.0], per_second=10.0, burst=2) == [
        True,
        True,
        True,
        False,
    ]


def test_a_refused_request_says_how_long_until_the_next_token() -> None:
    spent = take(None, 0.0, per_second=0.2, burst=1).bucket

    refused = take(spent, 1.0, per_second=0.2, burst=1)

    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(4.0)
    assert retry_after_header(refused.retry_after_s) == "4"


def test_a_clock_going_backwards_refills_nothing() -> None:
    spent = take(None, 100.0, per_second=1.0, burst=1).bucket

    assert not take(spent, 50.0, per_second=1.0, burst=1).allowed


@pytest.mark.parametrize(("seconds", "header"), [(0.0, "1"), (0.2, "1"), (1.0, "1"), (1.01, "2")])
def test_retry_after_is_whole_seconds_rounded_up(seconds: float, header: str) -> None:
    assert retry_after_header(seconds) == header


def test_an_idle_bucket_expires_once_it_would_be_full() -> None:
    assert idle_expiry_s(per_second=0.5, burst=3) == pytest.approx(7.0)


def test_without_redis_the_limiter_fails_open_and_stops_asking_for_a_while() -> None:
    errors: list[str] = []

    async def scenario() -> tuple[list[Allowance], list[Allowance]]:
        redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
        limiter = RateLimiter(redis, bypass_s=60, on_error=lambda: errors.append("redis"))
        try:
            together = [await limiter.take("caller", 0.01, 1) for _ in range(3)]
            failed_before = len(errors)
            later = [await limiter.take("caller", 0.01, 1) for _ in range(3)]
            assert len(errors) == failed_before  # bypassed: Redis was not asked again
            return together, later
        finally:
            await redis.aclose()

    together, later = uvloop.run(scenario())

    assert all(allowance.allowed for allowance in together + later)
    assert errors == ["redis"]
