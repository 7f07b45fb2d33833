"""`preflight gate`: target -> health -> suites -> report -> verdict, as one exit code.

    preflight gate [--target embedded|PROFILE.toml] [--suites unit,api,...] [--reports DIR]
                   [--keep-stack] [--workers auto|N] [--load smoke|capacity|none]
                   [--i-own-this-target]

1. target   ``embedded`` starts the bundled stack (`preflight.stack.running`; a stack already
            running from ``preflight stack up --keep`` is reused and left running) and writes
            its profile to ``.preflight/gate/target.toml`` (``allow_destructive = true``); any
            other value is a profile TOML path. Only ``unit`` selected: no target at all.
2. health   `preflight.health.check_target`; anything unhealthy ends the run with exit 4,
            naming each failed check, before any test runs.
3. suites   one ``python -m pytest -p xdist.plugin -p allure_pytest.plugin tests/<suite>...
            -n auto --target <profile>
            --alluredir <reports>/allure-results --junitxml <reports>/junit.xml`` subprocess,
            its output streamed as it comes; ``PREFLIGHT_RUN_ID`` carries the run id.
3a. contract with the contract suite selected, `preflight.breaking_changes`: each
            contracts/openapi/*.yaml against the same path on ``main`` (skipped, with the
            reason, outside a git checkout or without ``main``); a breaking change is exit 1.
            The result is ``breaking_changes`` in summary.json.
3b. load    with a target that has a gateway, `preflight.load.gate_step`: the order-flow scenario
            at a modest rate (smoke) or a short capacity search (capacity, <= 3 min, compared
            with the baseline kept in ``<reports>/baseline/``) against load/slo.yaml (results
            in ``<reports>/load/``, Allure tests per objective); a breach or a capacity
            regression is exit 3, an invalid run (generator saturated, or a non-loopback host
            without allow_load_hosts and --i-own-this-target) exit 5.
4. report   environment.properties + categories.json into allure-results, the release summary
            (``<reports>/summary.md`` and the Allure test "Release summary"), the single-file
            Allure report (history kept in ``<reports>/history/``), ``<reports>/summary.json``.
            allure-results, junit.xml, the report and summary of the previous run are removed
            at the start; history is kept.
5. verdict  exit code from `preflight.verdict`: 0 pass; 1 a test failed or errored, or no
            test was collected (pytest 5); 2 usage (unknown suite, missing or unreadable
            profile, a machine that cannot run the stack: one line on stderr, no test run);
            3 an SLO broke under load; 4 target unhealthy, or the embedded stack failed to
            start; 5 the load run was invalid, or pytest interrupted,
            crashed or misused (pytest 2, 3, 4, a signal) or it wrote no JUnit XML. A report
            that fails to render is a warning in the summary, not a verdict: the tests'
            answer stands.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from preflight import stack
from preflight.breaking_changes import BreakingCheck, check_against_base
from preflight.health import HealthReport, check_target
from preflight.load.gate_step import MODES as LOAD_MODES
from preflight.load.gate_step import LoadStepResult, run_load_step
from preflight.page_timings import read_recorded
from preflight.report import environment, release_summary, reliability, render
from preflight.report.summary import (
    SUMMARY_FILE,
    BreakingChangesEntry,
    HealthEntry,
    JunitResults,
    ReportPaths,
    SpecChanges,
    Summary,
    build_summary,
    parse_junit,
    write_summary,
)
from preflight.targets import Target, TargetError, from_stack, load_profile, write_profile
from preflight.verdict import ExitCode, Verdict, combine, from_pytest

KNOWN_SUITES: tuple[str, ...] = (
    "unit",
    "api",
    "contract",
    "regression",
    "ui",
    "reliability",
    "security",
)
SUITES_WITHOUT_TARGET = frozenset({"unit"})
EMBEDDED = "embedded"
RESULTS_DIR = "allure-results"
JUNIT_FILE = "junit.xml"
UI_PERFORMANCE_DIR = "ui-performance"  # page load figures of the perf tests (tests/ui)
GATE_STATE = Path(".preflight") / "gate"
# Plugins are named, not autoloaded (as in the Makefile): the same set whoever runs the gate.
PYTEST_PLUGINS = ("xdist.plugin", "allure_pytest.plugin")
PYTEST_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
GENERATED_PROFILE = "target.toml"


class GateUsageError(Exception):
    """The command line or configuration is wrong; the message is one line for stderr."""


StackRunner = Callable[[bool, stack.Progress], AbstractContextManager[stack.StackInfo]]
TargetLoader = Callable[[Path], Target]


@dataclass(frozen=True)
class GateOptions:
    target: str = EMBEDDED
    suites: str | None = None  # "unit,api"; None = every suite that has a tests/ directory
    reports_dir: Path = Path("reports")
    keep_stack: bool = False
    workers: str = "auto"
    root: Path = field(default_factory=render.project_root)
    load: str = "capacity"
    i_own_this_target: bool = False


@dataclass(frozen=True)
class GateResult:
    verdict: Verdict
    summary_path: Path
    summary: Summary


@dataclass(frozen=True)
class _Paths:
    reports: Path
    results: Path
    junit: Path
    html: Path
    history: Path
    summary: Path
    reliability: Path
    ui_performance: Path

    @classmethod
    def under(cls, reports: Path) -> _Paths:
        return cls(
            reports=reports,
            results=reports / RESULTS_DIR,
            junit=reports / JUNIT_FILE,
            html=reports / render.REPORT_FILE,
            history=reports / render.HISTORY_FILE,
            summary=reports / SUMMARY_FILE,
            reliability=reports / "reliability",
            ui_performance=reports / UI_PERFORMANCE_DIR,
        )


def select_suites(spec: str | None, tests_dir: Path) -> tuple[str, ...]:
    """Validate ``--suites``; None means every known suite whose directory exists."""
    if spec is None:
        present = tuple(name for name in KNOWN_SUITES if (tests_dir / name).is_dir())
        if not present:
            raise GateUsageError(f"no test suites found under {tests_dir}")
        return present
    names = tuple(dict.fromkeys(name.strip() for name in spec.split(",") if name.strip()))
    if not names:
        raise GateUsageError("--suites is empty")
    unknown = [name for name in names if name not in KNOWN_SUITES]
    if unknown:
        raise GateUsageError(
            f"unknown suite {', '.join(map(repr, unknown))} (known: {', '.join(KNOWN_SUITES)})"
        )
    for name in names:
        if not (tests_dir / name).is_dir():
            raise GateUsageError(f"suite {name!r} has no tests: {tests_dir / name} is missing")
    return names


def pytest_command(
    suites: Sequence[str],
    *,
    profile: Path | None,
    results_dir: Path,
    junit: Path,
    workers: str = "auto",
) -> list[str]:
    command = [sys.executable, "-m", "pytest"]
    command += [arg for plugin in PYTEST_PLUGINS for arg in ("-p", plugin)]
    command += [f"tests/{name}" for name in suites]
    command += ["-n", workers, "--alluredir", str(results_dir), "--junitxml", str(junit)]
    if profile is not None:
        command += ["--target", str(profile)]
    return command


def write_stack_profile(info: stack.StackInfo, path: Path) -> Path:
    """The profile of a stack Preflight started: every service and DSN, destructive allowed."""
    return write_profile(from_stack(info), path)


def run_gate(
    options: GateOptions,
    *,
    console: Console | None = None,
    stack_runner: StackRunner | None = None,
    load_target: TargetLoader | None = None,
) -> GateResult:
    """Run the whole gate. Raises GateUsageError before doing anything on bad input."""
    out = console or Console()
    started_at = datetime.now(UTC)
    root = options.root.resolve()
    suites = select_suites(options.suites, root / "tests")
    needs_target = any(name not in SUITES_WITHOUT_TARGET for name in suites)
    loader = load_target or load_profile
    target: Target | None = None
    profile: Path | None = None
    if needs_target and options.target != EMBEDDED:
        profile = Path(options.target).expanduser().resolve()
        if not profile.is_file():
            raise GateUsageError(f"profile not found: {options.target}")
        target = _load(loader, profile)
    paths = _Paths.under(options.reports_dir.expanduser().resolve())
    run = _Run(
        out=out,
        root=root,
        suites=suites,
        paths=paths,
        started_at=started_at,
        git_sha=environment.git_sha(root),
    )
    _clean_previous(paths)

    with contextlib.ExitStack() as resources:
        out.rule(f"[bold]1/5 target[/] {options.target if needs_target else 'none (unit only)'}")
        if needs_target and target is None:
            runner = stack_runner or embedded_stack
            try:
                with out.status("starting the embedded stack..."):
                    info = resources.enter_context(
                        runner(options.keep_stack, lambda line: out.print(f"  {line}"))
                    )
            except stack.StackConfigError as exc:
                raise GateUsageError(f"cannot start the embedded stack: {exc}") from exc
            except stack.StackError as exc:
                return run.finish(
                    Verdict(
                        ExitCode.TARGET_UNHEALTHY,
                        f"the embedded stack failed to start: {_one_line(exc)}",
                    )
                )
            run.run_id = info.run_id
            profile = write_stack_profile(info, root / GATE_STATE / GENERATED_PROFILE)
            out.print(f"embedded stack {info.run_id}: profile {profile}", highlight=False)
            target = _load(loader, profile)
        run.target = target
        if target is not None:
            for service, url in sorted(target.services.items()):
                out.print(f"  {service:<14} {url}", highlight=False)

        out.rule("[bold]2/5 health[/]")
        if target is None:
            out.print("skipped: the selected suites need no target")
        else:
            with out.status("checking services and databases..."):
                report = check_target(target)
            run.health = report
            for check in report.checks:
                mark = "[green]ok[/]  " if check.ok else "[red]FAIL[/]"
                out.print(f"  {mark} {check.name}: {check.detail}", highlight=False)
            if not report.healthy:
                names = ", ".join(check.name for check in report.failures)
                return run.finish(Verdict(ExitCode.TARGET_UNHEALTHY, f"target unhealthy: {names}"))

        out.rule(f"[bold]3/5 suites[/] {', '.join(suites)}")
        command = pytest_command(
            suites,
            profile=profile,
            results_dir=paths.results,
            junit=paths.junit,
            workers=options.workers,
        )
        out.print(" ".join(command), style="dim", highlight=False, soft_wrap=True)
        sys.stdout.flush()
        returncode = _run_streaming(
            command,
            cwd=root,
            env={
                **PYTEST_ENV,
                "PREFLIGHT_RUN_ID": run.run_id,
                reliability.RESULTS_ENV: str(paths.reliability),
                "PREFLIGHT_UI_PERF_DIR": str(paths.ui_performance),
            },
        )
        verdicts = [from_pytest(returncode)]
        if "contract" in suites:
            out.rule("[bold]3a/5 breaking changes[/] against main")
            run.breaking = check_against_base(root)
            out.print(f"breaking changes: {run.breaking.reason}", highlight=False)
            for diff in run.breaking.specs:
                for change in diff.breaking:
                    out.print(f"  [red]{diff.spec}[/] {change}", highlight=False)
            if run.breaking.status == "fail":
                verdicts.append(Verdict(ExitCode.FUNCTIONAL_FAILURE, run.breaking.reason))
        if target is not None and options.load != "none":
            out.rule(f"[bold]3b/5 load[/] {options.load}")
            loaded = run_load_step(
                options.load,
                target,
                reports=paths.reports,
                allure_results=paths.results,
                run_id=run.run_id,
                i_own_this_target=options.i_own_this_target,
                console=out,
            )
            if isinstance(loaded, LoadStepResult):
                run.load = loaded
                loaded = loaded.verdict
            if loaded is not None:
                out.print(f"load: {loaded.reason}", highlight=False)
                verdicts.append(loaded)
        return run.finish(combine(verdicts), tests_ran=True)
    raise AssertionError("unreachable: every path above returns or raises")


@dataclass
class _Run:
    """What one gate run has learnt so far, and how it writes its reports."""

    out: Console
    root: Path
    suites: tuple[str, ...]
    paths: _Paths
    started_at: datetime
    git_sha: str | None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    target: Target | None = None
    health: HealthReport | None = None
    breaking: BreakingCheck | None = None
    load: LoadStepResult | None = None

    def finish(self, outcome: Verdict, *, tests_ran: bool = False) -> GateResult:
        self.out.rule("[bold]4/5 report[/]")
        warnings: list[str] = []
        junit: JunitResults | None = None
        if tests_ran:
            if self.paths.junit.is_file():
                junit = parse_junit(self.paths.junit)
            else:
                outcome = combine(
                    [
                        outcome,
                        Verdict(ExitCode.RUN_INVALID, "pytest wrote no JUnit XML"),
                    ]
                )
            self._write_allure_metadata()
            self._write_release_summary(outcome, junit, with_allure=True)
            html = self._render(warnings)
        else:
            self._write_release_summary(outcome, None, with_allure=False)
            html = None
        reports = ReportPaths(
            allure_html=self._relative(html),
            junit=self._relative(self.paths.junit if junit is not None else None),
            history=self._relative(self.paths.history if self.paths.history.is_file() else None),
        )
        result = build_summary(
            verdict=outcome.name,
            exit_code=int(outcome.exit_code),
            reason=outcome.reason,
            run_id=self.run_id,
            target=self.target.name if self.target is not None else "none",
            git_sha=self.git_sha,
            started_at=self.started_at,
            finished_at=datetime.now(UTC),
            selected_suites=list(self.suites),
            junit=junit,
            reports=reports,
            health=[
                HealthEntry(name=check.name, ok=check.ok, detail=check.detail)
                for check in (self.health.checks if self.health is not None else ())
            ],
            warnings=warnings,
            reliability=reliability.collect(self.paths.reliability),
            breaking_changes=self._breaking_entry(),
            ui_performance=read_recorded(self.paths.ui_performance),
        )
        summary_path = write_summary(result, self.paths.summary)
        self.out.print(f"summary  {summary_path}")
        self.out.rule("[bold]5/5 verdict[/]")
        self._print_verdict(outcome, result)
        return GateResult(verdict=outcome, summary_path=summary_path, summary=result)

    def _breaking_entry(self) -> BreakingChangesEntry | None:
        if self.breaking is None:
            return None
        return BreakingChangesEntry(
            status=self.breaking.status,
            reason=self.breaking.reason,
            base_ref=self.breaking.base_ref,
            specs=[
                SpecChanges(spec=d.spec, breaking=d.breaking, additive=d.additive)
                for d in self.breaking.specs
            ],
        )

    def _write_release_summary(
        self, outcome: Verdict, junit: JunitResults | None, *, with_allure: bool
    ) -> None:
        found = release_summary.sections(
            verdict=outcome.name,
            exit_code=int(outcome.exit_code),
            reason=outcome.reason,
            facts={
                "run": self.run_id,
                "target": self.target.name if self.target is not None else "none",
                "git": self.git_sha or "",
                "started": self.started_at.isoformat(timespec="seconds"),
            },
            junit=junit,
            load=None
            if self.load is None
            else release_summary.LoadPart(self.load.mode, self.load.document, self.load.out),
        )
        path = release_summary.write(
            found,
            self.paths.reports,
            self.paths.results if with_allure else None,
            passed=outcome.passed,
        )
        self.out.print(f"release  {path}")

    def _write_allure_metadata(self) -> None:
        services = self.target.services if self.target is not None else {}
        environment.write_environment(
            self.paths.results,
            environment.environment_properties(
                target_name=self.target.name if self.target is not None else "none",
                services=services,
                run_id=self.run_id,
                git_sha=self.git_sha,
                suites=self.suites,
            ),
        )
        environment.write_categories(self.paths.results)

    def _render(self, warnings: list[str]) -> Path | None:
        name = f"Preflight: {self.target.name if self.target is not None else 'unit'}"
        try:
            with self.out.status("rendering the Allure report..."):
                rendered = render.render_html(
                    self.paths.results,
                    html_path=self.paths.html,
                    history_path=self.paths.history,
                    report_name=name,
                )
        except render.RenderError as exc:
            warnings.append(f"Allure report not rendered: {exc}")
            self.out.print(f"[yellow]warning[/] Allure report not rendered: {exc}")
            return None
        self.out.print(
            f"allure   {rendered.html} (history: {rendered.history_entries} runs)",
            highlight=False,
        )
        return rendered.html

    def _print_verdict(self, outcome: Verdict, result: Summary) -> None:
        totals = result.totals
        self.out.print(
            f"{totals.passed} passed, {totals.failed} failed, {totals.errors} errors,"
            f" {totals.skipped} skipped in {result.duration_s:.1f} s",
            highlight=False,
        )
        for failure in result.failures[:20]:
            self.out.print(f"  [red]{failure.kind}[/] {failure.nodeid}", highlight=False)
        if len(result.failures) > 20:
            self.out.print(f"  ... and {len(result.failures) - 20} more (see summary.json)")
        if result.reliability is not None:
            faults = result.reliability
            self.out.print(
                f"reliability: {faults.faults_survived}/{faults.faults} faults survived,"
                f" {faults.writes_acknowledged} writes acknowledged, {faults.lost} lost,"
                f" {faults.duplicated} duplicated",
                highlight=False,
            )
        style = "bold green" if outcome.passed else "bold red"
        self.out.print(
            f"[{style}]{outcome.exit_code.name} (exit {int(outcome.exit_code)})[/]:"
            f" {outcome.reason}",
            highlight=False,
        )

    def _relative(self, path: Path | None) -> str | None:
        if path is None:
            return None
        try:
            return path.relative_to(self.paths.reports).as_posix()
        except ValueError:
            return str(path)


def gate_command(
    target: Annotated[
        str, typer.Option(help="'embedded' (start the bundled stack) or a profile TOML path.")
    ] = EMBEDDED,
    suites: Annotated[
        str | None,
        typer.Option(help=f"Comma-separated suites ({', '.join(KNOWN_SUITES)}). Default: all."),
    ] = None,
    reports: Annotated[
        Path, typer.Option(help="Directory for allure-results, JUnit XML, HTML, summary.")
    ] = Path("reports"),
    keep_stack: Annotated[
        bool, typer.Option(help="Leave the embedded stack running afterwards.")
    ] = False,
    workers: Annotated[str, typer.Option(help="pytest-xdist workers: auto or a number.")] = "auto",
    load: Annotated[
        str,
        typer.Option(
            help="Load step: capacity (a <= 3 min capacity search against the SLOs and the "
            "baseline), smoke (the order flow at 30/s against the SLOs) or none."
        ),
    ] = "capacity",
    i_own_this_target: Annotated[
        bool,
        typer.Option("--i-own-this-target", help="Allow load on a non-loopback host it lists."),
    ] = False,
) -> None:
    """Run the release gate: target, health, suites, load, report, verdict (exit code)."""
    if load not in LOAD_MODES:
        typer.echo(f"preflight gate: --load {load!r}: use one of {', '.join(LOAD_MODES)}", err=True)
        raise typer.Exit(int(ExitCode.USAGE))
    options = GateOptions(
        target=target,
        suites=suites,
        reports_dir=reports,
        keep_stack=keep_stack,
        workers=workers,
        load=load,
        i_own_this_target=i_own_this_target,
    )
    try:
        result = run_gate(options)
    except GateUsageError as exc:
        typer.echo(f"preflight gate: {exc}", err=True)
        raise typer.Exit(int(ExitCode.USAGE)) from None
    raise typer.Exit(int(result.verdict.exit_code))


def _run_streaming(command: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> int:
    """Run with inherited stdout/stderr. Ctrl-C reaches pytest too: wait for it to stop."""
    with subprocess.Popen(command, cwd=cwd, env={**os.environ, **env}) as process:
        try:
            return process.wait()
        except KeyboardInterrupt:
            return process.wait()


def _clean_previous(paths: _Paths) -> None:
    shutil.rmtree(paths.results, ignore_errors=True)
    shutil.rmtree(paths.reports / "load", ignore_errors=True)
    shutil.rmtree(paths.reliability, ignore_errors=True)
    shutil.rmtree(paths.ui_performance, ignore_errors=True)
    for stale in (
        paths.junit,
        paths.html,
        paths.summary,
        paths.reports / release_summary.SUMMARY_MD,
    ):
        stale.unlink(missing_ok=True)
    paths.results.mkdir(parents=True, exist_ok=True)


def _load(loader: TargetLoader, profile: Path) -> Target:
    try:
        return loader(profile)
    except (TargetError, OSError, ValueError) as exc:
        raise GateUsageError(f"cannot load profile {profile}: {_one_line(exc)}") from exc


@contextlib.contextmanager
def embedded_stack(keep: bool, progress: stack.Progress) -> Iterator[stack.StackInfo]:
    """A stack for this run; one already running (`preflight stack up --keep`) is reused.

    A stack started here lives in a directory of the run's own, so a gate can run beside a
    developer's test run; with --keep-stack it is the shared one, for `preflight stack down`.
    """
    running = stack.status()
    if running is not None:
        progress(f"reusing the running stack {running.run_id}")
        yield running
        return
    if keep:
        with stack.running(keep=True, progress=progress) as info:
            yield info
        return
    stack.sweep_stale_runs(progress)
    state_dir = stack.run_state_dir(f"gate-{uuid.uuid4().hex[:8]}")
    try:
        with stack.running(state_dir=state_dir, progress=progress) as info:
            yield info
    finally:
        stack.remove_run_dir(state_dir)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


if __name__ == "__main__":
    typer.run(gate_command)
