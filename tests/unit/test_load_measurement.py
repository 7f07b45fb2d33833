"""The load harness's measurements, offline: recordings merged across generators are the
recording of all their requests (percentiles from merged histograms, never averaged), corrected
latencies carry the wait before the request, and generator health flags saturation."""

import pytest

from preflight.load import histograms, results
from preflight.load.recording import Recording

T0 = 1_800_000_000.0


def record(recording: Recording, values_ms: list[float], *, late_ms: float = 0.0) -> None:
    for i, value in enumerate(values_ms):
        recording.request("GET /x", T0 + i * 0.01, value, late_ms, failed=False)


def test_merged_workers_give_the_percentiles_of_all_requests_not_their_average() -> None:
    fast, slow, master = Recording(T0), Recording(T0), Recording(T0)
    record(fast, [1.0] * 990)
    record(slow, [1000.0] * 10)
    every = Recording(T0)
    record(every, [1.0] * 990 + [1000.0] * 10)

    master.merge(fast.take())
    master.merge(slow.take())

    merged = results.build(master)["endpoints"]["GET /x"]["corrected"]
    alone = results.build(every)["endpoints"]["GET /x"]["corrected"]
    assert merged == alone
    assert merged["p99"] == pytest.approx(1.0, rel=0.02)  # 1 % of requests are slow
    assert merged["max"] == pytest.approx(1000.0, rel=0.01)
    averaged_p99 = (1.0 + 1000.0) / 2  # what averaging the two workers' p99 would claim
    assert abs(merged["p99"] - averaged_p99) > 400


def test_take_ships_a_delta_and_starts_afresh() -> None:
    worker, master = Recording(T0), Recording(T0)
    record(worker, [5.0] * 10)
    master.merge(worker.take())
    record(worker, [5.0] * 5)
    master.merge(worker.take())

    assert results.build(master)["total"]["requests"] == 15
    assert worker.take()["series"] == {}


def test_the_corrected_latency_adds_the_wait_before_the_request() -> None:
    recording = Recording(T0)
    recording.request("GET /x", T0, 2.0, 498.0, failed=False)

    endpoint = results.build(recording)["endpoints"]["GET /x"]

    assert endpoint["uncorrected"]["max"] == pytest.approx(2.0, rel=0.01)
    assert endpoint["corrected"]["max"] == pytest.approx(500.0, rel=0.01)


def test_errors_and_per_second_series_are_kept() -> None:
    recording = Recording(T0)
    for second in range(3):
        for n in range(10):
            recording.request("POST /y", T0 + second + n / 20, 10.0, 0.0, failed=n == 0)

    document = results.build(recording)

    assert document["endpoints"]["POST /y"]["errors"] == 3
    assert [row["requests"] for row in document["series"]] == [10, 10, 10]
    assert [row["errors"] for row in document["series"]] == [1, 1, 1]
    assert document["duration_s"] == 3


def test_histograms_survive_their_encoding() -> None:
    histogram = histograms.new()
    for value in (1.5, 20.0, 300.0):
        histograms.record_ms(histogram, value)

    decoded = histograms.decode(histograms.encode(histogram))

    assert histograms.summary(decoded) == histograms.summary(histogram)


def samples(cpu: list[float], lag_ms: float = 1.0) -> dict[str, list[dict[str, float]]]:
    return {
        "gen-1": [{"t": T0 + i, "cpu_percent": c, "loop_lag_ms": lag_ms} for i, c in enumerate(cpu)]
    }


def test_a_generator_above_90_percent_cpu_most_of_the_time_invalidates_the_run() -> None:
    busy = results.generator_health(samples([20, 20, 20] + [97.0] * 8 + [50.0] * 2), {})
    idle = results.generator_health(samples([20, 20, 20] + [40.0] * 10), {})

    assert busy["valid"] is False
    assert "90% CPU" in busy["problems"][0]
    assert idle["valid"] is True


def test_a_lagging_event_loop_invalidates_the_run_but_late_arrivals_alone_do_not() -> None:
    lagging = results.generator_health(samples([10.0] * 10, lag_ms=250.0), {})
    queued = results.generator_health(samples([10.0] * 10), {"started": 100, "late": 30})

    assert lagging["valid"] is False
    assert "lagged" in lagging["problems"][0]
    assert queued["valid"] is True  # arrivals waiting for a busy target are not its fault


def test_the_exit_code_puts_an_invalid_run_before_an_slo_breach() -> None:
    ok = {"generator": {"valid": True}, "slo": {"passed": True}}
    breach = {"generator": {"valid": True}, "slo": {"passed": False}}
    invalid = {"generator": {"valid": False}, "slo": {"passed": False}}

    assert [results.exit_code(d) for d in (ok, breach, invalid)] == [0, 3, 5]
