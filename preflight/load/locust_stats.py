"""Locust's request statistics, logged in batches.

Locust logs each request into its `RequestStats` (the request's entry and the total) from a
listener of `events.request`: a few microseconds per request, a fifth of what an open-model
generator spends on a trivial request. `BatchedStats` keeps what that listener would log as a
tuple per request and adds it to Locust's entries a few times a second, the way Locust's own
`StatsEntry.log` would have: the same request counts per second, the same response-time buckets
(`locust.stats.bucket_response_time`, looked up when used, so a customised one applies), the
same sum, minimum, maximum and content length, and the per-second copies behind Locust's
"current" percentiles. Only the moment differs: Locust's numbers trail the requests by up to a
batch interval. Failures and requests without a response time are not batched (log them through
the event as ever).
"""

from dataclasses import dataclass, field
from typing import Any

import locust.stats
from locust.env import Environment
from locust.stats import StatsEntry

FEED_INTERVAL_S = 0.2
"""How often the batches reach Locust's stats (its console and web UI refresh every 2 s)."""


@dataclass
class _Second:
    requests: int = 0
    buckets: dict[int, int] = field(default_factory=dict)
    last_at: float = 0.0

    def add(self, other: "_Second") -> None:
        self.requests += other.requests
        for bucket, count in other.buckets.items():
            self.buckets[bucket] = self.buckets.get(bucket, 0) + count
        self.last_at = max(self.last_at, other.last_at)


@dataclass
class _Batch:
    """Requests of one entry (or of all, for the total), as StatsEntry.log would count them."""

    seconds: dict[int, _Second] = field(default_factory=dict)
    total_ms: float = 0.0
    min_ms: float | None = None
    max_ms: float = 0.0
    content_length: int = 0

    @classmethod
    def of(cls, requests: list[tuple[float, float, int]]) -> "_Batch":
        bucket_of = locust.stats.bucket_response_time
        batch = cls(content_length=sum(length for _, _, length in requests))
        times = [response_ms for _, response_ms, _ in requests]
        batch.total_ms, batch.min_ms, batch.max_ms = sum(times), min(times), max(times)
        for at, response_ms, _ in requests:
            second = batch.seconds.get(int(at))
            if second is None:
                second = batch.seconds[int(at)] = _Second()
            second.requests += 1
            bucket = bucket_of(response_ms)
            second.buckets[bucket] = second.buckets.get(bucket, 0) + 1
            second.last_at = at
        return batch

    def add(self, other: "_Batch") -> None:
        for key, second in other.seconds.items():
            self.seconds.setdefault(key, _Second()).add(second)
        self.total_ms += other.total_ms
        if other.min_ms is not None:
            self.min_ms = other.min_ms if self.min_ms is None else min(self.min_ms, other.min_ms)
        self.max_ms = max(self.max_ms, other.max_ms)
        self.content_length += other.content_length

    def log_into(self, entry: StatsEntry) -> None:
        for key in sorted(self.seconds):
            second = self.seconds[key]
            last = entry.last_request_timestamp
            if entry.use_response_times_cache and last and key > int(last):
                entry._cache_response_times(key - 1)  # as StatsEntry.log does on a new second
            entry.num_requests += second.requests
            entry.num_reqs_per_sec[key] += second.requests
            for bucket, count in second.buckets.items():
                entry.response_times[bucket] += count
            entry.last_request_timestamp = second.last_at
        entry.total_response_time += self.total_ms  # type: ignore[assignment]  # ms, as logged
        if self.min_ms is not None:
            held = entry.min_response_time
            lowest = self.min_ms if held is None else min(held, self.min_ms)
            entry.min_response_time = lowest  # type: ignore[assignment]  # ms, as logged
        entry.max_response_time = max(entry.max_response_time, self.max_ms)  # type: ignore[assignment]
        entry.total_content_length += self.content_length


class BatchedStats:
    """Successful requests for the environment's Locust stats, logged by `feed` (not locked:
    gevent runs one greenlet at a time and nothing here yields)."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment  # its stats, read when used: a worker replaces them
        self._pending: dict[tuple[str, str], list[tuple[float, float, int]]] = {}

    def log(self, method: str, name: str, at: float, response_ms: float, length: int) -> None:
        """One successful request (its `time.time()` when it completed)."""
        requests = self._pending.get((name, method))
        if requests is None:
            # Locust's entry starts with its first request: create it now, not at the feed.
            self.environment.stats.get(name, method)
            requests = self._pending[(name, method)] = []
        requests.append((at, response_ms, length))

    def feed(self) -> None:
        """Log what is pending into Locust's entries and its total."""
        pending, self._pending = self._pending, {}
        if not pending:
            return
        stats, total = self.environment.stats, _Batch()
        for (name, method), requests in pending.items():
            batch = _Batch.of(requests)
            batch.log_into(stats.get(name, method))
            total.add(batch)
        total.log_into(stats.total)


def feeds_locust_stats(handler: Any) -> bool:
    """Whether `handler` (a listener of `events.request`) is the one a Locust runner adds to log
    requests into its stats."""
    return (
        getattr(handler, "__module__", None) == "locust.runners"
        and getattr(handler, "__qualname__", None) == "Runner.__init__.<locals>.on_request"
    )
