"""`preflight load run` end to end: real Locust processes against calibrated servers on
loopback, whose behaviour is known by construction, so every check is far beyond the noise."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from preflight.calibration import CalibratedServer

pytestmark = pytest.mark.slow  # slow tests take the machine one at a time (pytest_plugin)

LOCUSTFILES = Path(__file__).parent / "locustfiles"
PREFLIGHT = str(Path(sys.executable).with_name("preflight"))


def load_run(out: Path, *args: str, timeout: float = 120) -> tuple[int, dict[str, Any] | None, str]:
    completed = subprocess.run(
        [PREFLIGHT, "load", "run", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    written = out / "results.json"
    document = json.loads(written.read_text()) if written.is_file() else None
    return completed.returncode, document, completed.stdout + completed.stderr


def test_corrected_p99_shows_a_stall_that_uncorrected_p99_hides(tmp_path: Path) -> None:
    with CalibratedServer(stall_every_s=10, stall_s=1) as server:
        code, document, output = load_run(
            tmp_path,
            *("-f", str(LOCUSTFILES / "one_at_a_time.py"), "--host", server.url),
            *("--rate", "50", "--duration", "21s"),
        )

    assert code == 0, output
    assert document is not None
    endpoint = document["endpoints"]["GET /"]
    # Two 1 s stalls in 21 s: the 50 arrivals due in each wait behind the stalled request.
    assert endpoint["corrected"]["p99"] > 300
    assert endpoint["uncorrected"]["p99"] < 100
    assert endpoint["uncorrected"]["max"] > 500  # the stalled request itself
    assert document["arrivals"]["dropped"] == 0
    assert document["generator"]["valid"] is True


def test_a_server_slower_than_the_slo_exits_3_with_the_breach_named(tmp_path: Path) -> None:
    with CalibratedServer(concurrency=50, service_time_s=0.3) as server:
        code, document, output = load_run(
            tmp_path,
            *("-f", str(LOCUSTFILES / "ping.py"), "--host", server.url),
            *("--rate", "20", "--duration", "6s", "--slo-p99-ms", "100"),
        )

    assert code == 3, output
    assert document is not None
    (breach,) = [r for r in document["slo"]["rows"] if not r["passed"] and r["scope"] == "run"]
    assert (breach["group"], breach["objective"]) == ("all requests", "p99_ms")
    assert breach["actual"] >= 300
    assert "BREACH" in output
    assert (tmp_path / "throughput.png").is_file()
    assert (tmp_path / "latency.png").is_file()


def test_the_same_server_within_the_slo_passes(tmp_path: Path) -> None:
    with CalibratedServer(concurrency=50, service_time_s=0.01) as server:
        code, document, output = load_run(
            tmp_path,
            *("-f", str(LOCUSTFILES / "ping.py"), "--host", server.url),
            *("--rate", "20", "--duration", "6s", "--slo-p99-ms", "250"),
        )

    assert code == 0, output
    assert document is not None
    assert document["slo"]["passed"] is True


def test_workers_record_apart_and_the_master_merges_their_histograms(tmp_path: Path) -> None:
    with CalibratedServer() as server:
        code, document, output = load_run(
            tmp_path,
            *("-f", str(LOCUSTFILES / "ping.py"), "--host", server.url),
            *("--rate", "40", "--duration", "8s", "--workers", "2"),
        )
        served = server.requests

    assert code == 0, output
    assert document is not None
    assert len(document["generator"]["workers"]) == 2
    total = document["total"]["requests"]
    assert total == document["endpoints"]["GET /"]["corrected"]["count"]
    # Every request the server answered is counted once, but for those in flight at the stop.
    assert served - 5 <= total <= served
    assert 40 * 8 * 0.8 <= total <= 40 * 8 * 1.1


def test_a_saturated_generator_makes_the_run_invalid_not_the_target_slow(tmp_path: Path) -> None:
    with CalibratedServer() as server:
        code, document, output = load_run(
            tmp_path,
            *("-f", str(LOCUSTFILES / "burns_cpu.py"), "--host", server.url),
            *("--rate", "40", "--duration", "10s", "--slo-p99-ms", "100000"),
        )

    assert code == 5, output
    assert document is not None
    assert document["generator"]["valid"] is False
    assert "run invalid" in output


def test_a_rate_shape_scales_the_arrival_rate_over_time(tmp_path: Path) -> None:
    shape = tmp_path / "two_steps.py"
    shape.write_text(
        "from preflight.load.open_model import RateShape\n\n\n"
        "class TwoSteps(RateShape):\n"
        "    def factor(self, run_time: float) -> float | None:\n"
        "        return None if run_time >= 8 else (0.25 if run_time < 4 else 1.0)\n"
    )
    locustfile = f"{LOCUSTFILES / 'ping.py'},{shape}"
    with CalibratedServer() as server:
        code, document, output = load_run(
            tmp_path / "out",
            *("-f", locustfile, "--host", server.url, "--rate", "40", "--duration", "20s"),
        )

    assert code == 0, output
    assert document is not None
    per_second = [row["requests"] for row in document["series"]]
    assert sum(per_second) < 40 * 8 * 0.8  # the shape ended the test at 8 s, at a lower rate
    assert max(per_second[:3]) <= 15 < min(per_second[5:7])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--rate", "5"), "exactly one of --scenario"),
        (("--scenario", "nope"), "no scenario 'nope'"),
        (("--scenario", "order_flow", "--shape", "zigzag"), "no shape 'zigzag'"),
        (("--scenario", "order_flow", "--duration", "7h"), "capped"),
        (("-f", "missing.py"), "no locustfile"),
    ],
)
def test_bad_options_exit_2_with_one_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    code, _, output = load_run(tmp_path, *args, "--host", "http://127.0.0.1:9")

    assert code == 2, output
    assert message in output


def test_a_host_outside_loopback_is_refused_before_any_load(tmp_path: Path) -> None:
    code, document, output = load_run(
        tmp_path, "-f", str(LOCUSTFILES / "ping.py"), "--host", "http://10.20.30.40:8080"
    )

    assert code == 5, output
    assert "refusing to load" in output
    assert document is None
    assert not (tmp_path / "locust.log").exists()


def test_the_open_model_user_runs_under_plain_locust(tmp_path: Path) -> None:
    with CalibratedServer() as server:
        completed = subprocess.run(
            [
                sys.executable, "-m", "locust", "-f", str(LOCUSTFILES / "ping.py"),
                "--headless", "-u", "1", "-r", "1", "--run-time", "12s",
                "--host", server.url, "--arrival-rate", "25", "--preflight-out", str(tmp_path),
            ],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    assert completed.returncode == 0, completed.stderr[-2000:]
    document = json.loads((tmp_path / "results.json").read_text())
    arrivals, requests = document["arrivals"], document["total"]["requests"]
    # --run-time counts from the start, set-up included (seconds on a busy machine; once 5 of
    # 6 s): judge the rate over the seconds that carried requests, not over the whole run time.
    assert requests >= 25, document["total"]
    assert 25 * 0.5 <= document["total"]["rps"] <= 25 * 1.3, document["total"]
    assert arrivals["dropped"] == 0
    assert arrivals["started"] >= requests, arrivals
