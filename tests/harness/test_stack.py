"""The embedded stack starts healthy, streams to a read-only replica, and leaves nothing behind:
not when stopped, not when its owner is killed, not when two starts race."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest

from preflight import stack
from preflight.processes import ProcessRecord
from preflight.stack import StackInfo, StatePaths
from preflight.waits import wait_until
from reference_services.catalog import SERVICES

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PREFLIGHT = str(Path(sys.executable).with_name("preflight"))


def reachable_scratch_dir() -> Path:
    """A scratch dir the postgres account can enter when the tests run as root: pytest's
    tmp_path sits under a 0700 directory."""
    scratch = Path(tempfile.mkdtemp(prefix="preflight-stack-test-"))
    scratch.chmod(0o755)
    return scratch


@pytest.fixture
def state_dir() -> Iterator[Path]:
    scratch = reachable_scratch_dir()
    try:
        yield scratch / "stack"
    finally:
        stack.stop(state_dir=scratch / "stack")
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="module")
def healthy_stack() -> Iterator[StackInfo]:
    scratch = reachable_scratch_dir()
    try:
        with stack.running(state_dir=scratch / "stack") as info:
            yield info
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def recorded_processes(state_dir: Path) -> list[ProcessRecord]:
    manifest = stack.read_manifest(StatePaths(state_dir))
    assert manifest is not None, f"no manifest in {state_dir}"
    return manifest.processes


def processes_using(path: Path) -> list[psutil.Process]:
    """Live processes whose command line or working directory mentions `path`."""
    found = []
    for process in psutil.process_iter(["cmdline", "cwd", "status"]):
        if process.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        text = " ".join(process.info["cmdline"] or []) + " " + (process.info["cwd"] or "")
        if str(path) in text:
            found.append(process)
    return found


def assert_nothing_left(records: list[ProcessRecord], state_dir: Path) -> None:
    alive = [record for record in records if record.is_alive()]
    assert not alive, f"still running: {alive}"
    assert not processes_using(state_dir), "processes still use the state dir"
    assert not (state_dir / "postgres").exists()
    assert not (state_dir / "manifest.json").exists()


def python_in_background(code: str, state_dir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=PROJECT_ROOT,
        env=os.environ | {"PREFLIGHT_STATE_DIR": str(state_dir)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_for_ready_manifest(state_dir: Path, child: subprocess.Popen[bytes]) -> StackInfo:
    def ready() -> StackInfo | None:
        exited = child.poll() is not None  # before reading: a kept stack's starter exits at once
        manifest = stack.read_manifest(StatePaths(state_dir))
        if manifest is not None and manifest.state == "ready":
            return manifest.info()
        if exited:
            output = child.stdout.read().decode() if child.stdout else ""
            pytest.fail(f"the process starting the stack exited early:\n{output}")
        return None

    return wait_until(ready, timeout=90, interval=0.2, description="the stack to become ready")


@pytest.mark.slow
def test_every_service_answers_ready(healthy_stack: StackInfo) -> None:
    assert set(healthy_stack.services) == {service.name for service in SERVICES}
    for name, url in healthy_stack.services.items():
        response = httpx.get(f"{url}/health/ready", timeout=5)
        assert response.status_code == 200, f"{name}: {response.text}"


@pytest.mark.slow
def test_replica_streams_from_the_primary_and_refuses_writes(healthy_stack: StackInfo) -> None:
    with psycopg.connect(healthy_stack.postgres_primary, autocommit=True) as primary:
        streaming = primary.execute(
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
        ).fetchone()
        primary.execute("CREATE TABLE IF NOT EXISTS replication_probe (note text)")
        primary.execute("INSERT INTO replication_probe VALUES ('written on the primary')")
    assert streaming == (1,)

    with psycopg.connect(healthy_stack.postgres_replica, autocommit=True) as replica:
        assert replica.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        wait_until(
            lambda: replica.execute("SELECT count(*) FROM replication_probe").fetchone() == (1,),
            timeout=5,
            description="the probe row to reach the replica",
            ignored_exceptions=(psycopg.errors.UndefinedTable,),
        )
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            replica.execute("INSERT INTO replication_probe VALUES ('written on the replica')")


@pytest.mark.slow
def test_service_databases_exist_on_both_servers(healthy_stack: StackInfo) -> None:
    for service in SERVICES:
        if service.database is None:
            continue
        for on_replica in (False, True):
            dsn = healthy_stack.database_dsn(service.database, replica=on_replica)
            with psycopg.connect(dsn) as connection:
                assert connection.execute("SELECT current_database()").fetchone() == (
                    service.database,
                )


@pytest.mark.slow
def test_stop_leaves_no_process_or_data_behind(state_dir: Path) -> None:
    info = stack.start(state_dir=state_dir)
    records = recorded_processes(state_dir)
    assert {record.name for record in records} >= {"postgres:primary", "postgres:replica", "redis"}
    assert stack.status(state_dir=state_dir) == info

    stack.stop(state_dir=state_dir)

    assert_nothing_left(records, state_dir)
    assert stack.status(state_dir=state_dir) is None


@pytest.mark.slow
def test_start_after_its_owner_was_killed_cleans_up_and_succeeds(state_dir: Path) -> None:
    owner = python_in_background(
        """
        import sys
        from preflight import stack
        stack.start()
        sys.stdin.read()
        """,
        state_dir,
    )
    stale = wait_for_ready_manifest(state_dir, owner)
    stale_records = recorded_processes(state_dir)
    owner.send_signal(signal.SIGKILL)
    owner.wait()

    fresh = stack.start(state_dir=state_dir, services=[])

    assert fresh.run_id != stale.run_id
    assert not [record for record in stale_records if record.is_alive()]


@pytest.mark.slow
def test_survivors_of_a_dead_owner_are_killed_by_the_next_start(state_dir: Path) -> None:
    starter = python_in_background(
        "from preflight import stack; stack.start(keep=True, services=[])", state_dir
    )
    wait_for_ready_manifest(state_dir, starter)
    assert starter.wait(timeout=30) == 0
    paths = StatePaths(state_dir)
    kept = stack.read_manifest(paths)
    assert kept is not None
    dead_owner = ProcessRecord(name="owner", pid=starter.pid, create_time=0.0)
    stack.write_manifest(paths, kept.model_copy(update={"owner": dead_owner}))

    stack.start(state_dir=state_dir, services=[])

    assert not [record for record in kept.processes if record.is_alive()]


@pytest.mark.slow
def test_a_kept_stack_is_refused_unless_reused(state_dir: Path) -> None:
    kept = stack.start(state_dir=state_dir, services=[], keep=True)

    with pytest.raises(stack.StackAlreadyRunning, match="preflight stack down"):
        stack.start(state_dir=state_dir, services=[])
    assert stack.start(state_dir=state_dir, services=[], reuse=True) == kept


@pytest.mark.slow
def test_concurrent_starts_do_not_race(state_dir: Path) -> None:
    code = """
        import sys
        from preflight import stack
        try:
            print("started", stack.start(services=[]).run_id, flush=True)
        except stack.StackAlreadyRunning:
            print("refused", flush=True)
            sys.exit(0)
        sys.stdin.read()
    """
    starters = [python_in_background(code, state_dir) for _ in range(2)]
    try:
        first_lines = [
            child.stdout.readline().decode().split() for child in starters if child.stdout
        ]
    finally:
        for child in starters:
            child.kill()
            child.wait()

    assert sorted(line[0] for line in first_lines) == ["refused", "started"]


@pytest.mark.slow
def test_cli_stack_up_stops_the_stack_on_ctrl_c(state_dir: Path) -> None:
    up = subprocess.Popen(
        [PREFLIGHT, "stack", "up"],
        cwd=PROJECT_ROOT,
        env=os.environ | {"PREFLIGHT_STATE_DIR": str(state_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    info = wait_for_ready_manifest(state_dir, up)
    records = recorded_processes(state_dir)
    status = subprocess.run(
        [PREFLIGHT, "stack", "status", "--json"],
        cwd=PROJECT_ROOT,
        env=os.environ | {"PREFLIGHT_STATE_DIR": str(state_dir)},
        capture_output=True,
        check=True,
    )
    assert json.loads(status.stdout)["run_id"] == info.run_id

    up.send_signal(signal.SIGINT)

    assert up.wait(timeout=30) == 0
    assert_nothing_left(records, state_dir)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands PostgreSQL to another account")
def test_a_state_dir_postgres_cannot_enter_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(stack.StackConfigError, match="PREFLIGHT_STATE_DIR"):
        stack.start(state_dir=tmp_path / "stack", services=[])


@pytest.mark.slow
def test_a_killed_test_run_leaves_a_stack_the_next_run_sweeps_away() -> None:
    scratch = reachable_scratch_dir()
    runs = scratch / "runs"
    suite = scratch / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text('pytest_plugins = ["preflight.pytest_plugin"]\n')
    (suite / "test_blocks.py").write_text(
        "import sys\n\ndef test_holds_the_stack(target):\n    sys.stdin.read()\n"
    )
    env = os.environ | {"PREFLIGHT_RUNS_DIR": str(runs), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PREFLIGHT_STATE_DIR", None)
    victim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-s",
            "-p",
            "no:cacheprovider",
            "--run-id",
            "victim",
            "--rootdir",
            str(suite),
            "-c",
            os.devnull,
            str(suite),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        run_dir = runs / "victim"
        wait_for_ready_manifest(run_dir, victim)
        records = recorded_processes(run_dir)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        assert [r for r in records if r.is_alive() and not r.name.startswith("service")]

        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("PREFLIGHT_RUNS_DIR", str(runs))
            assert stack.sweep_stale_runs() == ["victim"]

        assert_nothing_left(records, run_dir)
        assert not run_dir.exists()
    finally:
        victim.kill()
        shutil.rmtree(scratch, ignore_errors=True)
