"""The gate's reliability figures: every test's run merged, faults survived counted."""

from pathlib import Path

from preflight.report.reliability import FaultRun, collect, write_run


def run(test: str, *, lost: int = 0, survived: bool = True) -> FaultRun:
    return FaultRun(
        test=test,
        fault="primary crashed",
        survived=survived,
        rate_per_s=55.0,
        invoked=550,
        acknowledged=540,
        lost=lost,
        duplicated=0,
        recovery_s=0.4,
    )


def test_runs_written_by_tests_are_merged_into_one_summary(tmp_path: Path) -> None:
    write_run(tmp_path, run("tests/reliability/test_a.py::test_one"))
    write_run(tmp_path, run("tests/reliability/test_b.py::test_two", lost=3, survived=False))

    summary = collect(tmp_path)

    assert summary is not None
    assert (summary.faults, summary.faults_survived) == (2, 1)
    assert (summary.writes_acknowledged, summary.lost, summary.duplicated) == (1080, 3, 0)
    assert [r.test for r in summary.runs] == [
        "tests/reliability/test_a.py::test_one",
        "tests/reliability/test_b.py::test_two",
    ]


def test_no_reliability_run_gives_no_section(tmp_path: Path) -> None:
    assert collect(tmp_path / "absent") is None
    assert collect(tmp_path) is None
