"""Locust's stats of the open model's requests, logged in batches, are the ones Locust logs."""

import os
import types
from typing import Any

import pytest

# Importing locust monkey-patches the process for gevent, which breaks pytest-xdist's worker
# threads; these tests need no patched I/O. Only the import skips it: locust processes that
# tests start later inherit an environment without the setting.
os.environ["LOCUST_SKIP_MONKEY_PATCH"] = "1"
try:
    from locust import User
    from locust.env import Environment
    from locust.event import Events
    from locust.stats import RequestStats, StatsEntry

    from preflight.load import open_model
    from preflight.load.locust_stats import BatchedStats
    from preflight.load.recording import Recording
finally:
    del os.environ["LOCUST_SKIP_MONKEY_PATCH"]

# (seconds since the start, name, response ms, length): two names, three seconds, every bucket
# size Locust rounds to (exact under 100 ms, then tens, hundreds, thousands).
REQUESTS = [
    (0.10, "GET /a", 3.4, 10),
    (0.40, "GET /b", 147.0, 20),
    (0.90, "GET /a", 3432.5, 10),
    (1.20, "GET /a", 0.6, 10),
    (1.70, "GET /b", 58760.0, 30),
    (2.05, "GET /a", 99.5, 10),
    (2.50, "GET /b", 12.0, 20),
]
START = 1_700_000_000.0


class _Clock:
    def __init__(self) -> None:
        self.now = START

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    clock = _Clock()
    monkeypatch.setattr("locust.stats.time", types.SimpleNamespace(time=clock.time))
    return clock


def _observed(entry: StatsEntry) -> dict[str, Any]:
    cache = entry.response_times_cache or {}
    return {
        "requests": entry.num_requests,
        "per_second": dict(entry.num_reqs_per_sec),
        "buckets": dict(entry.response_times),
        "total_ms": entry.total_response_time,
        "min_ms": entry.min_response_time,
        "max_ms": entry.max_response_time,
        "length": entry.total_content_length,
        "last": entry.last_request_timestamp,
        "cached": {t: (dict(c.response_times), c.num_requests) for t, c in cache.items()},
    }


def _everything(stats: RequestStats) -> dict[str, Any]:
    return {key: _observed(entry) for key, entry in stats.entries.items()} | {
        "total": _observed(stats.total)
    }


def test_batches_log_what_locust_logs_request_by_request(clock: _Clock) -> None:
    by_locust = RequestStats(use_response_times_cache=True)
    for offset, name, response_ms, length in REQUESTS:
        clock.now = START + offset
        by_locust.log_request("GET", name, response_ms, length)  # type: ignore[arg-type]

    clock.now = START
    environment = types.SimpleNamespace(stats=RequestStats(use_response_times_cache=True))
    batched = BatchedStats(environment)  # type: ignore[arg-type]
    for n, (offset, name, response_ms, length) in enumerate(REQUESTS):
        clock.now = START + offset
        batched.log("GET", name, clock.now, response_ms, length)
        if n in (1, 4):  # fed mid-second too, as the feeder's ticks fall
            batched.feed()
    batched.feed()

    assert _everything(environment.stats) == _everything(by_locust)
    assert environment.stats.total.num_requests == len(REQUESTS)


class _Open(User):
    pass


@pytest.fixture
def own_requests(monkeypatch: pytest.MonkeyPatch) -> tuple[Environment, Any]:
    """An environment whose request listeners are Locust's runner and the open model's, the
    open model's state recording into it, and the request event of an OpenModelUser's client."""
    environment = Environment(user_classes=[_Open], events=Events())
    environment.create_local_runner()
    environment.events.request.add_listener(open_model._on_request)  # type: ignore[no-untyped-call]
    monkeypatch.setattr(open_model.STATE, "recording", Recording(START))
    monkeypatch.setattr(open_model.STATE, "batched", BatchedStats(environment))
    return environment, open_model._OwnRequests(environment)


def _fire(hook: Any, exception: BaseException | None = None) -> None:
    hook.fire(
        request_type="GET",
        name="GET /x",
        response_time=2.0,
        response_length=5,
        exception=exception,
        context={},
        response=None,
        start_time=START,
        url="/x",
    )


def test_successes_reach_locust_at_the_feed_failures_at_once(
    own_requests: tuple[Environment, Any],
) -> None:
    environment, hook = own_requests
    stats = environment.stats
    _fire(hook)
    assert stats.total.num_requests == 0
    _fire(hook, RuntimeError("refused"))
    assert (stats.total.num_requests, stats.total.num_failures) == (1, 1)
    open_model.STATE.batched.feed()  # type: ignore[union-attr]
    assert (stats.total.num_requests, stats.total.num_failures) == (2, 1)
    recorded = open_model.STATE.recording.take()["series"]["GET /x"]  # type: ignore[union-attr]
    assert recorded["errors"] == 1
    assert sum(int(e) for e in recorded["errors_per_second"].values()) == 1


def test_another_listener_sees_every_request(own_requests: tuple[Environment, Any]) -> None:
    environment, hook = own_requests
    seen: list[str] = []
    environment.events.request.add_listener(lambda name, **_: seen.append(name))  # type: ignore[no-untyped-call]
    _fire(hook)
    assert seen == ["GET /x"]
    assert environment.stats.total.num_requests == 1
