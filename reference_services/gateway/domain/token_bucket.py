"""The token bucket of one caller: `burst` tokens, refilled at `per_second`, one per request.

This is the model of the Lua script the gateway runs in Redis (adapters/rate_limiter.py): the
script applies exactly `take` to the bucket stored under the caller's key, atomically.
"""

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Bucket:
    tokens: float
    updated: float


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: float
    bucket: Bucket


def take(
    bucket: Bucket | None, now: float, per_second: float, burst: int, cost: float = 1.0
) -> Decision:
    """Refill for the time since the last request, then take `cost` tokens if there are enough.

    A new caller starts with a full bucket; a clock that went backwards refills nothing.
    """
    if bucket is None:
        tokens, updated = float(burst), now
    else:
        tokens, updated = bucket.tokens, bucket.updated
    tokens = min(float(burst), tokens + max(now - updated, 0.0) * per_second)
    if tokens >= cost:
        return Decision(True, 0.0, Bucket(tokens - cost, now))
    return Decision(False, (cost - tokens) / per_second, Bucket(tokens, now))


def retry_after_header(seconds: float) -> str:
    """Retry-After in whole seconds, rounded up, at least 1."""
    return str(max(math.ceil(seconds), 1))


def idle_expiry_s(per_second: float, burst: int) -> float:
    """After this long without requests the bucket is full again: its stored state can go."""
    return burst / per_second + 1.0
