"""`preflight load run`: drives the bundled scenarios or any locustfile against any host, as one
Locust process or a master with N workers on loopback, and gates the result on SLOs.

The Locust processes do the measuring (preflight.load.open_model writes results.json); this
module picks the target, refuses unsafe ones, starts and watches the processes, and prints the
verdict. Exit codes follow the gate's: 0 pass, 2 usage, 3 SLO breach, 4 target unhealthy,
5 run invalid (generator saturated, target not allowed).
"""

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from preflight import stack
from preflight.load import results
from preflight.ports import free_port
from preflight.targets import Target, TargetError, from_stack, load_profile
from preflight.verdict import ExitCode

ROOT = stack.project_root()
SCENARIOS = ROOT / "load" / "scenarios"
SHAPES = ROOT / "load" / "shapes"
DEFAULT_SLO = ROOT / "load" / "slo.yaml"
MAX_DURATION_S = 6 * 3600
MAX_REQUESTS_PER_ITERATION = 20
STOP_TIMEOUT_S = 10
STARTUP_GRACE_S = 120


class LoadUsageError(Exception):
    """Bad options: exit 2 with one line."""


@dataclass(frozen=True)
class LoadPlan:
    locustfiles: tuple[Path, ...]
    host: str
    rate: float
    duration_s: int
    workers: int
    out: Path
    slo_file: Path | None
    max_requests: int
    run_id: str
    arrival_process: str = "constant"
    target: Target | None = None
    extra_args: tuple[str, ...] = ()


def parse_duration(text: str) -> int:
    """Seconds from "30", "30s", "5m", "1h" or "1h30m"."""
    match = re.fullmatch(r"\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s?)?\s*", text)
    if not match or not any(match.groups()):
        raise LoadUsageError(f"--duration {text!r}: use seconds or a form like 30s, 5m, 1h30m")
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise LoadUsageError("--duration must be positive")
    if total > MAX_DURATION_S:
        raise LoadUsageError(f"--duration is capped at {MAX_DURATION_S // 3600} h")
    return total


def default_max_requests(rate: float, duration_s: int) -> int:
    """A ceiling no healthy run reaches: MAX_REQUESTS_PER_ITERATION per due iteration."""
    return min(int(rate * duration_s * MAX_REQUESTS_PER_ITERATION) + 1000, 50_000_000)


def locustfiles(text: str) -> list[Path]:
    """The files of `-f a.py,b.py`, each of which must exist."""
    files = [Path(part.strip()) for part in text.split(",") if part.strip()]
    for path in files:
        if not path.is_file():
            raise LoadUsageError(f"no locustfile at {path}")
    if not files:
        raise LoadUsageError("-f names no locustfile")
    return files


def scenario_file(name: str) -> Path:
    return _bundled(SCENARIOS, name, "scenario")


def shape_file(name: str) -> Path:
    return _bundled(SHAPES, name, "shape")


def _bundled(folder: Path, name: str, kind: str) -> Path:
    path = folder / f"{name}.py"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__"))
        raise LoadUsageError(f"no {kind} {name!r} (bundled: {known})")
    return path


def locust_command(plan: LoadPlan, role: str, master_port: int = 0) -> list[str]:
    """The argv of one Locust process: "single", "master" or "worker"."""
    argv = [sys.executable, "-m", "locust", "-f", ",".join(str(f) for f in plan.locustfiles)]
    if role == "worker":
        return [*argv, "--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port)]
    users = max(plan.workers, 1)
    argv += [
        "--headless",
        "--host",
        plan.host,
        "-u",
        str(users),
        "-r",
        str(users),
        "--run-time",
        f"{plan.duration_s}s",
        "--stop-timeout",
        str(STOP_TIMEOUT_S),
        "--arrival-rate",
        f"{plan.rate:g}",
        "--arrival-process",
        plan.arrival_process,
        "--max-requests",
        str(plan.max_requests),
        "--preflight-out",
        str(plan.out),
        "--preflight-run",
        plan.run_id,
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    if plan.slo_file is not None:
        argv += ["--slo", str(plan.slo_file)]
    if role == "master":
        argv += [
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(master_port),
            "--expect-workers",
            str(plan.workers),
        ]
    return [*argv, *plan.extra_args]


def run(
    plan: LoadPlan, console: Console, stop_when: Callable[[], str | None] | None = None
) -> tuple[int, dict[str, Any] | None]:
    """Run the plan; the exit code and results.json (None if the run produced none).

    `stop_when`, polled twice a second, ends the run early (Locust stops on SIGTERM and still
    writes its results) when it returns a reason."""
    plan.out.mkdir(parents=True, exist_ok=True)
    (plan.out / "results.json").unlink(missing_ok=True)
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "PREFLIGHT_RUN_ID": plan.run_id,
    }
    if plan.target is not None:
        env["PREFLIGHT_TARGET_JSON"] = plan.target.to_json()
    log_path = plan.out / "locust.log"
    with ExitStack() as stack_of_processes, log_path.open("wb") as log:
        processes: list[subprocess.Popen[bytes]] = []

        def spawn(argv: list[str]) -> subprocess.Popen[bytes]:
            process = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
            stack_of_processes.callback(_end, process)
            processes.append(process)
            return process

        if plan.workers > 0:
            port = free_port()
            main = spawn(locust_command(plan, "master", port))
            for _ in range(plan.workers):
                spawn(locust_command(plan, "worker", port))
        else:
            main = spawn(locust_command(plan, "single"))
        code = _watch(main, plan, console, stop_when)
    document = (
        results.read(plan.out / "results.json") if (plan.out / "results.json").is_file() else None
    )
    if document is None:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
        console.print("[red]the load run produced no results[/]; the end of its log:")
        console.print("\n".join(tail), markup=False, highlight=False)
        return (code or ExitCode.USAGE), None
    return results.exit_code(document), document


def _watch(
    main: subprocess.Popen[bytes],
    plan: LoadPlan,
    console: Console,
    stop_when: Callable[[], str | None] | None = None,
) -> int:
    deadline = time.monotonic() + plan.duration_s + STARTUP_GRACE_S + STOP_TIMEOUT_S
    with Progress(
        TextColumn("[bold]load[/] {task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"{plan.rate:g}/s against {plan.host}", total=plan.duration_s)
        began = time.monotonic()
        while main.poll() is None:
            progress.update(task, completed=min(time.monotonic() - began, plan.duration_s))
            if time.monotonic() > deadline:
                main.terminate()
                break
            if stop_when is not None and stop_when() is not None:
                main.terminate()
                break
            time.sleep(0.5)
    return main.wait(timeout=30)


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def slo_table(document: dict[str, Any]) -> Table:
    table = Table(title="SLOs", show_lines=False)
    for column in ("group", "objective", "threshold", "actual", "scope", "verdict"):
        table.add_column(column)
    for row in (document.get("slo") or {}).get("rows", []):
        actual = "-" if row["actual"] is None else f"{row['actual']:.4g}"
        verdict = "[green]ok[/]" if row["passed"] else "[bold red]BREACH[/]"
        table.add_row(
            row["group"], row["objective"], f"{row['threshold']:g}", actual, row["scope"], verdict
        )
    return table


def endpoint_table(document: dict[str, Any]) -> Table:
    table = Table(title="Endpoints (ms; corrected for coordinated omission / as sent)")
    for column in ("endpoint", "requests", "errors", "rps", "p50", "p95", "p99", "max"):
        table.add_column(column, justify="right" if column != "endpoint" else "left")
    for name, data in sorted(document["endpoints"].items()):
        corrected, uncorrected = data["corrected"], data["uncorrected"]
        table.add_row(
            name,
            str(data["requests"]),
            str(data["errors"]),
            f"{data['rps']:.1f}",
            *(f"{corrected[q]} / {uncorrected[q]}" for q in ("p50", "p95", "p99", "max")),
        )
    return table


@contextmanager
def target_for(
    host: str | None, profile: Path | None, console: Console
) -> Iterator[tuple[str, Target | None, tuple[str, ...]]]:
    """(gateway URL, target, allowed load hosts): the given host, the profile's gateway, or the
    embedded stack (reused when running, else started for the run)."""
    if host and profile:
        raise LoadUsageError("give --host or --target, not both")
    if host:
        if not re.match(r"^https?://", host):
            raise LoadUsageError(f"--host {host!r} is not an http(s) URL")
        yield host.rstrip("/"), None, ()
        return
    if profile is not None:
        try:
            target = load_profile(profile)
        except TargetError as error:
            raise LoadUsageError(str(error)) from None
        yield target.url("gateway"), target, target.allow_load_hosts
        return
    from preflight.gate import embedded_stack

    with embedded_stack(False, lambda message: console.print(f"[dim]{message}[/]")) as info:
        target = from_stack(info)
        yield target.url("gateway"), target, ()


def new_run_id() -> str:
    return f"load{uuid.uuid4().hex[:8]}"
