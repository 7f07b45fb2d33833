"""Where load may go, and how a load run is bounded."""

import pytest

from preflight.load.runner import LoadUsageError, default_max_requests, parse_duration
from preflight.safety import UnsafeTarget, check_load_target


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://localhost:9/x", "http://[::1]:80"]
)
def test_loopback_targets_are_always_allowed(url: str) -> None:
    check_load_target(url)


def test_another_host_needs_the_profile_and_the_flag() -> None:
    url = "http://10.20.30.40:8080"

    with pytest.raises(UnsafeTarget, match="allow_load_hosts"):
        check_load_target(url, i_own_this_target=True)
    with pytest.raises(UnsafeTarget, match="--i-own-this-target"):
        check_load_target(url, allow_hosts=["10.20.30.40"])
    assert check_load_target(url, allow_hosts=["10.20.30.40"], i_own_this_target=True)


def test_a_host_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(UnsafeTarget, match="cannot resolve"):
        check_load_target("http://preflight-no-such-host.invalid/")


@pytest.mark.parametrize(
    ("text", "seconds"), [("30", 30), ("30s", 30), ("5m", 300), ("1h30m", 5400), ("2m10s", 130)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "soon", "7h", "-5s"])
def test_bad_or_unbounded_durations_are_refused(text: str) -> None:
    with pytest.raises(LoadUsageError):
        parse_duration(text)


def test_every_run_has_a_request_ceiling() -> None:
    assert default_max_requests(100, 30) == 100 * 30 * 20 + 1000
    assert default_max_requests(10**6, 6 * 3600) == 50_000_000
