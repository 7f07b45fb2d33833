"""SLO files and their verdicts, on recordings built here: thresholds per endpoint group over
the whole run and over sliding windows, error rates, throughput, and clear errors for bad files."""

from pathlib import Path
from typing import Any

import pytest

from preflight.load import results, slo
from preflight.load.recording import Arrivals, Recording

T0 = 1_800_000_000.0


def run_of(
    seconds: int,
    per_second: int,
    latency_ms: float,
    *,
    slow_seconds: tuple[int, ...] = (),
    slow_ms: float = 0.0,
    errors_every: int = 0,
) -> dict:  # type: ignore[type-arg]
    recording = Recording(T0)
    n = 0
    for second in range(seconds):
        for i in range(per_second):
            value = slow_ms if second in slow_seconds else latency_ms
            failed = bool(errors_every) and n % errors_every == 0
            recording.request("POST /orders", T0 + second + i / per_second, value, 0.0, failed)
            recording.request("GET /orders/{id}", T0 + second + i / per_second, 5.0, 0.0, False)
            n += 1
    recording.arrivals = Arrivals(intended=2 * n, started=2 * n, completed=2 * n)
    return results.build(recording)


SLO = slo.parse(
    {
        "window_s": 5,
        "max_breached_windows": 0.2,
        "min_window_requests": 10,
        "min_throughput_ratio": 0.95,
        "groups": [
            {
                "name": "writes",
                "match": "^POST ",
                "p95_ms": 100,
                "p99_ms": 200,
                "max_error_rate": 0.01,
            },
            {"name": "reads", "match": "^GET ", "p99_ms": 50, "min_rps": 10},
        ],
    }
)


def test_a_run_within_every_objective_passes() -> None:
    verdict = slo.evaluate(SLO, run_of(20, 20, 30.0))

    assert verdict.passed, [vars(r) for r in verdict.breaches]
    assert {(r.group, r.objective) for r in verdict.rows} >= {
        ("writes", "p95_ms"),
        ("writes", "p99_ms"),
        ("writes", "max_error_rate"),
        ("reads", "min_rps"),
        ("iterations", "min_throughput_ratio"),
    }


def test_slow_writes_break_their_latency_objectives_only() -> None:
    verdict = slo.evaluate(SLO, run_of(20, 20, 150.0))

    assert {(r.group, r.objective) for r in verdict.breaches} == {
        ("writes", "p95_ms"),
        ("writes", "p95_ms per 5s window"),
    }


def test_errors_above_the_rate_break_the_run() -> None:
    verdict = slo.evaluate(SLO, run_of(20, 20, 30.0, errors_every=20))

    assert ("writes", "max_error_rate") in {(r.group, r.objective) for r in verdict.breaches}


def test_a_short_slowdown_breaks_the_windows_it_falls_in_not_the_whole_run() -> None:
    strict_windows = slo.parse(
        {
            "window_s": 5,
            "max_breached_windows": 0.05,
            "groups": [{"name": "writes", "match": "^POST ", "p95_ms": 100}],
        }
    )
    document = run_of(60, 20, 30.0, slow_seconds=(10, 11), slow_ms=500.0)

    verdict = slo.evaluate(strict_windows, document)

    rows = {r.objective: r for r in verdict.rows}
    assert rows["p95_ms"].passed  # 2 slow seconds of 60: under 5 % of the requests
    window = rows["p95_ms per 5s window"]
    assert not window.passed
    assert window.actual == round(6 / 56, 4)  # the windows ending in seconds 10 to 15


def test_too_few_iterations_completed_breaks_the_throughput_objective() -> None:
    document = run_of(10, 20, 30.0)
    document["arrivals"] = {"intended": 1000, "started": 900, "completed": 900}

    verdict = slo.evaluate(SLO, document)

    (row,) = [r for r in verdict.breaches if r.objective == "min_throughput_ratio"]
    assert row.actual == 0.9


def test_a_group_matching_no_request_is_not_judged_unless_it_asks_for_traffic() -> None:
    latency_only = slo.parse({"groups": [{"name": "reports", "match": "^GET /rep", "p99_ms": 100}]})
    traffic = slo.parse({"groups": [{"name": "reports", "match": "^GET /rep", "min_rps": 1}]})

    vacuous = slo.evaluate(latency_only, run_of(5, 20, 30.0))
    missing = slo.evaluate(traffic, run_of(5, 20, 30.0))

    assert vacuous.passed
    assert [(r.objective, r.actual) for r in vacuous.rows] == [("requests", 0)]
    assert [(r.group, r.objective) for r in missing.breaches] == [("reports", "requests")]


def test_a_p99_objective_can_be_added_on_every_request() -> None:
    verdict = slo.evaluate(slo.with_p99(None, 20.0), run_of(10, 20, 30.0))

    assert ("all requests", "p99_ms") in {(r.group, r.objective) for r in verdict.breaches}


def test_the_bundled_slo_file_loads_and_round_trips(tmp_path: Path) -> None:
    bundled = slo.load(Path(__file__).resolve().parents[2] / "load" / "slo.yaml")

    again = slo.load(slo.dump(bundled, tmp_path / "slo.yaml"))

    assert again == bundled
    assert {g.name for g in bundled.groups} == {"order writes", "order reads", "reports"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "non-empty 'groups'"),
        ({"groups": [{"name": "x"}]}, "needs 'name' and 'match'"),
        ({"groups": [{"name": "x", "match": ".*", "p42_ms": 1}]}, "unknown objectives"),
        ({"groups": [{"name": "x", "match": ".*"}]}, "sets no objective"),
        ({"groups": [{"name": "x", "match": "(", "p99_ms": 1}]}, "bad match"),
    ],
)
def test_bad_slo_files_are_refused_with_a_reason(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(slo.SloError, match=message):
        slo.parse(raw)


def test_an_unreadable_slo_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("groups: [")

    with pytest.raises(slo.SloError, match="not YAML"):
        slo.load(tmp_path / "bad.yaml")
    with pytest.raises(slo.SloError, match="cannot read"):
        slo.load(tmp_path / "missing.yaml")
