"""The gate's decisions: exit codes, usage errors, health verdicts, and one whole run."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rich.console import Console

from preflight import gate, stack
from preflight.health import check_primary, check_replica, check_target
from preflight.report import render
from preflight.stack import StackInfo
from preflight.targets import DatabaseDsns, Target, from_stack, load_profile
from preflight.verdict import ExitCode, Verdict, combine, from_pytest
from reference_services.catalog import SERVICES


def fake_stack_info(services: dict[str, str]) -> StackInfo:
    """A StackInfo as `preflight.stack` reports one; nothing listens on its database ports."""
    return StackInfo(
        run_id="fake-run",
        services=services,
        postgres_primary="postgresql://postgres@127.0.0.1:1/postgres",
        postgres_replica="postgresql://postgres@127.0.0.1:2/postgres",
        redis_url="redis://127.0.0.1:3/0",
    )


class ReadyHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        ready = self.path == "/health/ready"
        body = b'{"status":"ok"}' if ready else b'{"title":"Not Found","status":404}'
        self.send_response(200 if ready else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def ready_service() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ReadyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("pytest_status", "expected"),
    [
        (0, ExitCode.PASS),
        (1, ExitCode.FUNCTIONAL_FAILURE),
        (2, ExitCode.RUN_INVALID),
        (3, ExitCode.RUN_INVALID),
        (4, ExitCode.RUN_INVALID),
        (5, ExitCode.FUNCTIONAL_FAILURE),
        (-9, ExitCode.RUN_INVALID),
    ],
)
def test_pytest_status_maps_to_exit_code(pytest_status: int, expected: ExitCode) -> None:
    assert from_pytest(pytest_status).exit_code is expected


def test_exit_codes_are_the_documented_numbers() -> None:
    assert [(code.name, int(code)) for code in ExitCode] == [
        ("PASS", 0),
        ("FUNCTIONAL_FAILURE", 1),
        ("USAGE", 2),
        ("SLO_BREACH", 3),
        ("TARGET_UNHEALTHY", 4),
        ("RUN_INVALID", 5),
    ]


def test_no_tests_collected_fails_with_its_own_reason() -> None:
    assert "no tests were collected" in from_pytest(5).reason


def test_most_decisive_verdict_wins() -> None:
    breach = Verdict(ExitCode.SLO_BREACH, "p99 over budget")
    failure = Verdict(ExitCode.FUNCTIONAL_FAILURE, "tests failed")
    unhealthy = Verdict(ExitCode.TARGET_UNHEALTHY, "mes down")

    assert combine([]).exit_code is ExitCode.PASS
    assert combine([breach, failure]) == failure
    assert combine([failure, unhealthy, breach]) == unhealthy


def test_unknown_suite_is_a_one_line_usage_error(tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            *(sys.executable, "-m", "preflight.gate"),
            *("--suites", "api,nonsense", "--reports", str(tmp_path / "reports")),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == ExitCode.USAGE
    assert completed.stderr.strip().splitlines() == [
        "preflight gate: unknown suite 'nonsense' (known: unit, api, contract, regression, ui,"
        " reliability, security)"
    ]
    assert not (tmp_path / "reports").exists()


def test_missing_profile_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "tests" / "api").mkdir(parents=True)
    options = gate.GateOptions(
        target=str(tmp_path / "preprod.toml"), suites="api", reports_dir=tmp_path, root=tmp_path
    )

    with pytest.raises(gate.GateUsageError, match=r"profile not found: .*preprod\.toml"):
        gate.run_gate(options, console=Console(quiet=True))


def test_unreachable_service_is_unhealthy_and_named(closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}"

    report = check_target(Target(name="preprod", services={"mes": url}), timeout_s=1.0)

    assert not report.healthy
    assert [check.name for check in report.failures] == ["mes /health/ready"]
    assert f"{url}/health/ready unreachable" in report.describe_failures()


def test_unreachable_databases_are_unhealthy_and_named(closed_port: int) -> None:
    dsn = f"postgresql://postgres:secret@127.0.0.1:{closed_port}/mes"
    target = Target(name="preprod", services={}, databases={"mes": DatabaseDsns(dsn, dsn)})

    report = check_target(target, timeout_s=1.0)

    assert [check.name for check in report.failures] == [
        "mes database primary",
        "mes database replica",
    ]
    assert "secret" not in report.describe_failures()


def test_ready_service_is_healthy(ready_service: str) -> None:
    report = check_target(Target(name="local", services={"mes": ready_service}))

    assert report.healthy
    assert [check.name for check in report.checks] == ["mes /health/ready"]


def test_embedded_profile_allows_destructive_tests(tmp_path: Path) -> None:
    info = fake_stack_info({"mes": "http://127.0.0.1:18001"})

    target = load_profile(gate.write_stack_profile(info, tmp_path / "target.toml"))

    assert target.name == "embedded"
    assert target.allow_destructive
    assert target.services == {"mes": "http://127.0.0.1:18001"}
    assert target.databases["mes"] == DatabaseDsns(
        "postgresql://postgres@127.0.0.1:1/mes", "postgresql://postgres@127.0.0.1:2/mes"
    )


# --- a whole gate run over a throw-away project, with the stack faked at its boundary ---

SAMPLE_CONFTEST = """
def pytest_addoption(parser):
    parser.addoption("--target", default=None)
"""
SAMPLE_TESTS = """
import json
import os
import pathlib


def test_order_is_created():
    figures = pathlib.Path(os.environ["PREFLIGHT_UI_PERF_DIR"])
    figures.mkdir(parents=True, exist_ok=True)
    (figures / "queue.json").write_text(json.dumps({"page": "queue", "lcp_ms": 150.0}))


def test_order_is_released():
    assert "planned" == "released"
"""


def make_project(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (root / "conftest.py").write_text(SAMPLE_CONFTEST, encoding="utf-8")
    (root / "tests" / "api").mkdir(parents=True)
    (root / "tests" / "api" / "test_orders.py").write_text(SAMPLE_TESTS, encoding="utf-8")
    return root


def fake_stack(services: dict[str, str]) -> gate.StackRunner:
    @contextlib.contextmanager
    def running(keep: bool, progress: Callable[[str], None]) -> Iterator[StackInfo]:
        yield fake_stack_info(services)

    return running


def services_only(path: Path) -> Target:
    """The generated profile without the fake stack's databases and Redis, which don't exist."""
    return replace(load_profile(path), databases={}, redis_url=None)


@pytest.mark.slow
def test_gate_runs_suites_and_reports_a_failure(tmp_path: Path, ready_service: str) -> None:
    root = make_project(tmp_path / "project")
    reports = tmp_path / "reports"
    options = gate.GateOptions(suites="api", reports_dir=reports, root=root, workers="2")

    result = gate.run_gate(
        options,
        console=Console(quiet=True),
        stack_runner=fake_stack({"mes": ready_service}),
        load_target=services_only,
    )

    assert result.verdict.exit_code is ExitCode.FUNCTIONAL_FAILURE
    written = json.loads((reports / "summary.json").read_text(encoding="utf-8"))
    assert written["verdict"] == "functional_failure"
    assert written["exit_code"] == 1
    assert written["target"] == "embedded"
    assert written["suites"]["api"]["passed"] == 1
    assert written["suites"]["api"]["failed"] == 1
    assert [f["nodeid"] for f in written["failures"]] == [
        "tests/api/test_orders.py::test_order_is_released"
    ]
    assert written["ui_performance"] == [{"page": "queue", "lcp_ms": 150.0}]
    assert (reports / "junit.xml").is_file()
    assert (root / ".preflight" / "gate" / "target.toml").is_file()
    if (render.project_root() / "node_modules" / "allure").is_dir():
        assert written["reports"]["allure_html"] == "allure-report.html"
        assert (reports / "allure-report.html").is_file()


def test_gate_stops_at_an_unhealthy_target(tmp_path: Path, closed_port: int) -> None:
    root = make_project(tmp_path / "project")
    reports = tmp_path / "reports"
    options = gate.GateOptions(suites="api", reports_dir=reports, root=root)

    result = gate.run_gate(
        options,
        console=Console(quiet=True),
        stack_runner=fake_stack({"mes": f"http://127.0.0.1:{closed_port}"}),
        load_target=services_only,
    )

    assert result.verdict.exit_code is ExitCode.TARGET_UNHEALTHY
    assert "mes /health/ready" in result.verdict.reason
    assert result.summary.failures == []
    assert not (reports / "junit.xml").exists()
    assert [entry.name for entry in result.summary.health if not entry.ok] == ["mes /health/ready"]


@pytest.fixture
def stack_state_dir() -> Iterator[Path]:
    """PostgreSQL runs as another user: its state must sit under directories it can enter."""
    scratch = Path(tempfile.mkdtemp(prefix="preflight-health-"))
    scratch.chmod(0o755)
    try:
        yield scratch / "stack"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.mark.slow
def test_health_checks_database_roles_on_a_real_stack(stack_state_dir: Path) -> None:
    with stack.running(state_dir=stack_state_dir) as info:
        target = from_stack(info)
        primary, replica = info.database_dsn("mes"), info.database_dsn("mes", replica=True)

        report = check_target(target)
        swapped = (check_primary("mes", replica), check_replica("mes", primary))

    assert report.healthy, report.describe_failures()
    expected = {"redis"}
    for service in SERVICES:
        expected.add(f"{service.name} /health/ready")
        if service.database and service.migrates:  # the relay shares the MES database
            expected |= {f"{service.name} database primary", f"{service.name} database replica"}
    assert {check.name for check in report.checks} == expected
    assert [check.ok for check in swapped] == [False, False]
    assert "in recovery: it is not a primary" in swapped[0].detail
    assert "not in recovery: it is not a replica" in swapped[1].detail
