"""Per-caller rate limits: a token bucket per token subject, kept in Redis."""

import asyncio
import uuid

import pytest
from redis.asyncio import Redis

from fixtures.mes import MesFactory, Plant
from preflight.clients.gateway import GatewayCallers
from preflight.expect import expect_problem, expect_status
from preflight.targets import Target
from reference_services.gateway.adapters.rate_limiter import RateLimiter
from reference_services.gateway.domain.token_bucket import Bucket, take
from reference_services.platform.auth import RateLimit


def test_a_caller_over_its_burst_is_told_when_to_come_back(
    callers: GatewayCallers, mes_factory: MesFactory, plant: Plant
) -> None:
    order = mes_factory.create_order(plant)
    limited = callers("operator", plant.code, rate_limit=RateLimit(per_second=0.2, burst=3))
    neighbour = callers("operator", plant.code, rate_limit=RateLimit(per_second=0.2, burst=3))

    for _ in range(3):
        expect_status(limited.get_order(order["id"]), 200)
    refused = limited.get_order(order["id"])

    expect_problem(refused, 429, "rate-limited")
    assert 1 <= int(refused.headers["retry-after"]) <= 5
    expect_status(neighbour.get_order(order["id"]), 200)


def test_refusals_are_counted(callers: GatewayCallers) -> None:
    limited = callers("operator", rate_limit=RateLimit(per_second=0.01, burst=1))

    def refused_so_far() -> float:
        for line in limited.gateway("/metrics").text.splitlines():
            if line.startswith("gateway_rate_limited_total "):
                return float(line.split()[1])
        raise AssertionError("gateway_rate_limited_total is not exported")

    before = refused_so_far()
    limited.list_orders(limit=1)
    expect_problem(limited.list_orders(limit=1), 429, "rate-limited")

    assert refused_so_far() >= before + 1


def test_the_redis_script_takes_tokens_exactly_like_the_model(target: Target) -> None:
    if not target.allow_destructive or target.redis_url is None:
        pytest.skip("checks the reference gateway's script on the Redis of a stack Preflight ran")
    redis_url = target.redis_url
    offsets = [0.0, 0.0, 0.0, 0.4, 1.0, 1.0, 1.5, 0.5, 3.0, 3.0, 3.0, 60.0]
    per_second, burst = 2.0, 3

    async def in_redis() -> tuple[list[tuple[bool, float, float]], int]:
        redis = Redis.from_url(redis_url)
        limiter = RateLimiter(redis, prefix=f"preflight-test:{uuid.uuid4().hex}:")
        try:
            seen = []
            for offset in offsets:
                got = await limiter.take("caller", per_second, burst, now=1_000_000 + offset)
                seen.append((got.allowed, got.retry_after_s, got.tokens_left))
            ttl_ms = int(await redis.pttl(limiter.key("caller")))
            await redis.delete(limiter.key("caller"))
            return seen, ttl_ms
        finally:
            await redis.aclose()

    seen, ttl_ms = asyncio.run(in_redis())

    bucket: Bucket | None = None
    expected = []
    for offset in offsets:
        decision = take(bucket, 1_000_000 + offset, per_second, burst)
        bucket = decision.bucket
        expected.append((decision.allowed, decision.retry_after_s, decision.bucket.tokens))
    assert [allowed for allowed, _, _ in seen] == [allowed for allowed, _, _ in expected]
    assert [r for _, r, _ in seen] == pytest.approx([r for _, r, _ in expected], abs=1e-6)
    assert [t for _, _, t in seen] == pytest.approx([t for _, _, t in expected], abs=1e-6)
    assert 2000 < ttl_ms <= 2500
