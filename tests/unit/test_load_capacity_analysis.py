"""What a capacity search computes from its steps: the Universal Scalability Law fit on
synthetic data with known parameters, the comparison with a baseline and its noise margins,
the steady part of a step, the early stop and the bottleneck among the server-side signals."""

import math
import re
from typing import Any

import numpy as np
import pytest

from preflight.load import baseline, histograms, signals, slo, steady, usl


def usl_points(lambda_: float, sigma: float, kappa: float, noise: float = 0.0) -> list[Any]:
    rng = np.random.default_rng(7)
    n = np.array([1, 2, 4, 8, 16, 24, 32, 48, 64], dtype=float)
    x = usl.throughput(n, lambda_, sigma, kappa) * (1 + noise * rng.standard_normal(len(n)))
    return list(zip(n.tolist(), x.tolist(), strict=True))


def test_the_fit_recovers_known_contention_and_coherency() -> None:
    fit = usl.fit(usl_points(lambda_=50.0, sigma=0.05, kappa=0.002, noise=0.01))

    assert fit.meaningful, fit.reason
    assert fit.sigma == pytest.approx(0.05, abs=0.01)
    assert fit.kappa == pytest.approx(0.002, rel=0.2)
    assert fit.lambda_ == pytest.approx(50.0, rel=0.05)
    assert fit.r_squared is not None
    assert fit.r_squared > 0.98
    expected_peak = math.sqrt((1 - 0.05) / 0.002)
    assert fit.peak_concurrency == pytest.approx(expected_peak, rel=0.15)
    assert fit.peak_throughput == pytest.approx(
        usl.throughput(expected_peak, 50.0, 0.05, 0.002), rel=0.05
    )


def test_too_few_steps_are_not_a_fit() -> None:
    fit = usl.fit([(1.0, 10.0), (2.0, 19.0), (4.0, 30.0)])

    assert not fit.meaningful
    assert "fit not meaningful" in fit.reason
    assert fit.sigma is None


def test_no_coherency_penalty_predicts_no_peak_rather_than_a_huge_one() -> None:
    fit = usl.fit(usl_points(lambda_=20.0, sigma=0.0, kappa=0.0))

    assert not fit.meaningful
    assert "kappa ~ 0" in fit.reason
    assert fit.peak_concurrency is None
    assert fit.peak_throughput is None


def test_noise_without_shape_is_not_a_fit() -> None:
    rng = np.random.default_rng(1)
    fit = usl.fit([(float(n), float(100 + 30 * rng.standard_normal())) for n in range(1, 12)])

    assert not fit.meaningful


def capacity(low: float, high: float | None, p95: float = 20.0, rate: float = 10.0) -> Any:
    return {
        "kind": "capacity",
        "status": "converged" if high is not None else "no_breach",
        "band": {"low": low, "high": high},
        "steps": [
            {"rate": rate, "verdict": "pass", "endpoints": {"POST /orders": {"p95": p95}}},
            {"rate": 2 * rate, "verdict": "pass", "endpoints": {"POST /orders": {"p95": 900.0}}},
        ],
    }


def test_capacity_below_the_baseline_band_beyond_the_tolerance_is_a_regression() -> None:
    comparison = baseline.compare(capacity(45, 50), capacity(100, 110))

    assert comparison.outcome == "regression"
    assert comparison.regressions[0].what == "max sustainable rate"


def test_overlapping_or_nearby_bands_are_noise_not_a_regression() -> None:
    # The new band's top (90) is 10 % under the baseline's bottom: inside the 15 % tolerance.
    assert baseline.compare(capacity(80, 90), capacity(100, 110)).outcome == "unchanged"
    assert baseline.compare(capacity(95, 105), capacity(100, 110)).outcome == "unchanged"


def test_capacity_above_the_baseline_band_beyond_the_tolerance_is_an_improvement() -> None:
    assert baseline.compare(capacity(140, 150), capacity(100, 110)).outcome == "improvement"


def test_the_capacity_tolerance_is_configurable() -> None:
    tight = baseline.Tolerances(capacity=0.05)

    assert baseline.compare(capacity(80, 90), capacity(100, 110), tight).outcome == "regression"


def test_endpoint_latency_regresses_only_beyond_both_the_ratio_and_the_floor() -> None:
    slower = baseline.compare(capacity(100, 110, p95=60), capacity(100, 110, p95=20))
    tiny = baseline.compare(capacity(100, 110, p95=8), capacity(100, 110, p95=3))

    assert slower.outcome == "regression"
    assert slower.regressions[0].what == "POST /orders p95 at 10/s"
    assert tiny.outcome == "unchanged"  # +5 ms on 3 ms is under the 10 ms floor


def test_latencies_without_a_rate_held_in_both_runs_are_not_compared() -> None:
    comparison = baseline.compare(
        capacity(100, 110, p95=500, rate=15), capacity(100, 110, p95=20, rate=10)
    )

    assert comparison.outcome == "unchanged"
    assert [r.outcome for r in comparison.rows] == ["unchanged", "not comparable"]


def test_slos_broken_at_any_rate_against_a_baseline_with_a_capacity_is_a_regression() -> None:
    now = {"kind": "capacity", "status": "too_slow", "band": {"low": None, "high": 2.5}}

    assert baseline.compare(now, capacity(100, 110)).outcome == "regression"


def test_an_invalid_run_compares_with_nothing() -> None:
    now = {"kind": "capacity", "status": "invalid", "band": {"low": None, "high": None}}

    assert baseline.compare(now, capacity(100, 110)).outcome == "not comparable"


def test_a_file_that_is_not_a_capacity_result_is_refused(tmp_path: Any) -> None:
    path = tmp_path / "results.json"
    path.write_text('{"version": 1}')

    with pytest.raises(baseline.BaselineError, match="not a capacity result"):
        baseline.load(path)


def window(latencies_ms: dict[int, list[float]], errors: dict[int, int] | None = None) -> Any:
    """A window document (as the live feed gives) of one endpoint, per second."""
    per_second = {}
    for second, values in latencies_ms.items():
        bucket = histograms.new()
        for value in values:
            histograms.record_ms(bucket, value)
        per_second[str(second)] = {
            "h": histograms.encode(bucket),
            "e": (errors or {}).get(second, 0),
        }
    return {"endpoints": {"GET /": {"per_second": per_second}}, "arrivals": {}}


def test_the_steady_part_drops_the_warm_up_and_the_partial_last_second() -> None:
    seconds = {100: [900.0] * 10, 101: [900.0] * 10}  # cold start
    seconds |= {s: [20.0] * 50 for s in range(102, 110)}
    seconds[110] = [20.0] * 7  # cut mid-second

    calm = steady.steady_document(window(seconds), warmup_s=2)

    assert calm["duration_s"] == 8
    assert calm["total"]["requests"] == 8 * 50
    assert calm["total"]["rps"] == 50
    assert calm["total"]["corrected"]["p99"] < 25
    assert steady.concurrency(calm) == pytest.approx(50 * 0.02, rel=0.05)


def attempt(start: int, latencies_ms: list[float], *, stall_at: int | None = None) -> Any:
    """A 12-second step window: 2 cold seconds, 9 steady ones, a partial last one; at
    `stall_at`, a second whose first half of requests took 1.5 s (5.6 % of the steady ones)."""
    seconds = {start: [900.0] * 40, start + 1: [900.0] * 40}
    seconds |= {s: list(latencies_ms) for s in range(start + 2, start + 11)}
    if stall_at is not None:
        half = len(latencies_ms) // 2
        seconds[stall_at] = [1500.0] * half + list(latencies_ms[half:])
    seconds[start + 11] = [20.0] * 5
    document = window(seconds)
    document["arrivals"] = {"intended": 500, "started": 500, "late": 0, "dropped": 0}
    document["generator"] = {"valid": True, "problems": []}
    return document


def test_two_attempts_pool_into_their_steady_seconds_back_to_back() -> None:
    first, second = attempt(100, [20.0] * 40), attempt(160, [30.0] * 40)
    second["generator"] = {"valid": False, "problems": ["cpu"]}

    pooled = steady.pooled(first, second, warmup_s=2)
    calm = steady.steady_document(pooled, warmup_s=0)

    assert calm["duration_s"] == 18  # 9 + 9 steady seconds, no warm-up, no partial second
    assert calm["total"]["requests"] == 18 * 40
    assert calm["total"]["rps"] == 40
    assert calm["total"]["corrected"]["p50"] == pytest.approx(20.0, rel=0.05)
    assert calm["total"]["corrected"]["p99"] == pytest.approx(30.0, rel=0.05)
    assert pooled["arrivals"]["intended"] == 1000
    assert pooled["generator"]["valid"] is False
    assert pooled["generator"]["problems"] == ["cpu"]


def test_a_stall_breaks_one_attempt_but_not_the_pool_and_a_slow_rate_breaks_both() -> None:
    objectives = slo.SloFile(
        groups=(slo.Group("all", re.compile("."), {"p95_ms": 300.0}),),
        window_s=3,
        max_breached_windows=0.25,
        min_window_requests=1,
    )

    def verdict(document: Any, warmup_s: int) -> bool:
        return slo.evaluate(objectives, steady.steady_document(document, warmup_s)).passed

    stalled = attempt(100, [20.0] * 40, stall_at=105)
    calm = attempt(160, [20.0] * 40)
    slow = [attempt(start, [20.0] * 36 + [400.0] * 4) for start in (100, 160)]

    assert not verdict(stalled, 2)
    assert verdict(steady.pooled(stalled, calm, 2), 0)
    assert not verdict(steady.pooled(*slow, 2), 0)


def test_a_clear_breach_stops_a_step_after_its_warm_up() -> None:
    slow = {s: [5000.0] * 20 for s in range(100, 106)}

    assert steady.clear_breach(window(slow), warmup_s=2, latency_limit_ms=800) is not None
    assert steady.clear_breach(window(slow), warmup_s=4, latency_limit_ms=800) is None
    assert steady.clear_breach(window(slow), warmup_s=2, latency_limit_ms=2000) is None


def test_a_step_that_mostly_fails_stops_early() -> None:
    failing = window({s: [5.0] * 20 for s in range(100, 106)}, {s: 15 for s in range(100, 106)})

    reason = steady.clear_breach(failing, warmup_s=1, latency_limit_ms=None)

    assert reason is not None
    assert "failed" in reason


def test_the_bottleneck_is_the_signal_nearest_its_saturation_at_the_breaking_step() -> None:
    before = {"mes": {"db_pool_utilisation": 0.4, "cpu_percent": 40.0}}
    breaking = {
        "mes": {"db_pool_utilisation": 1.0, "cpu_percent": 55.0},
        "gateway": {"cpu_percent": 60.0, "consumer_lag_events": 0.0},
    }

    found = signals.bottleneck(breaking, before)

    assert found is not None
    assert (found["service"], found["signal"]) == ("mes", "db_pool_utilisation")
    assert "was 0.4" in found["text"]
    assert signals.bottleneck({}) is None


def test_metrics_pages_are_folded_into_signals() -> None:
    page = (
        'db_pool_connections_in_use{service="mes",role="primary",pool="main"} 3\n'
        'db_pool_connections_in_use{service="mes",role="replica",pool="main"} 2\n'
        'db_pool_connections_max{service="mes"} 10\n'
        '# TYPE cache_requests counter\ncache_requests_total{service="mes",result="hit"} 30\n'
        'cache_requests_total{service="mes",result="miss"} 10\n'
        'stream_consumer_lag_events{group="a"} 4\nstream_consumer_lag_events{group="b"} 9\n'
    )

    found = signals.parse_metrics(page)

    assert found["db_pool_in_use"] == 5
    assert found["db_pool_busiest"] == 3  # against db_pool_connections_max, per pool
    assert found["db_pool_max"] == 10
    assert (found["cache_hit_total"], found["cache_miss_total"]) == (30, 10)
    assert found["consumer_lag_events"] == 9
