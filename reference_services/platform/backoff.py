"""Exponential backoff with jitter for retried outbound calls (submissions, webhooks)."""

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    """Attempt n waits between half and all of min(cap, base * 2^(n-1)), so retries spread out
    without ever shrinking to nothing."""

    base_s: float = 0.2
    cap_s: float = 30.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, attempt: int) -> float:
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(max(attempt - 1, 0), 32))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)
