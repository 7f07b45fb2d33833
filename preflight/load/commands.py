"""The `preflight load` commands: run (a scenario or any locustfile at an arrival rate, gated on
SLOs), capacity (the highest rate every SLO holds at, against a baseline) and cleanup (cancel
what a run left open on a target)."""

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from preflight.load import baseline, capacity_report, capacity_run, results, runner, slo
from preflight.load.capacity import SearchConfig
from preflight.load.capacity_run import CapacityPlan, run_capacity
from preflight.load.cleanup import cleanup_run
from preflight.load.runner import LoadPlan, LoadUsageError
from preflight.load.signals import prometheus_series
from preflight.safety import UnsafeTarget, check_load_target
from preflight.verdict import ExitCode

console = Console()
err_console = Console(stderr=True, soft_wrap=True)

STEP_OVERHEAD_S = 4
"""Starting and stopping Locust around each step, as the time budget counts it."""

load_app = typer.Typer(
    help="Load tests on Locust: open-model scenarios, shapes, SLO gates.", no_args_is_help=True
)


Scenario = Annotated[str | None, typer.Option(help="A bundled scenario (load/scenarios/NAME.py).")]
Locustfile = Annotated[
    str | None,
    typer.Option("-f", "--locustfile", help="Any locustfile(s), comma-separated, instead."),
]
Host = Annotated[str | None, typer.Option(help="Base URL to load (default: the gateway).")]
TargetProfile = Annotated[
    Path | None, typer.Option(help="A target profile (TOML); default: the embedded stack.")
]
Workers = Annotated[int, typer.Option(help="Locust workers (0: one process).", min=0, max=64)]
SloPath = Annotated[
    Path | None,
    typer.Option("--slo", help="SLO file (default: load/slo.yaml for bundled scenarios)."),
]
SloP99 = Annotated[
    float | None, typer.Option(help="Add a p99 objective (ms) on every request.", min=0)
]
OwnTarget = Annotated[
    bool, typer.Option("--i-own-this-target", help="Allow a non-loopback host the profile lists.")
]


def _fail(message: str, code: int) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _workload(
    scenario: str | None, locustfile: str | None, slo_file: Path | None, slo_p99_ms: float | None
) -> tuple[list[Path], slo.SloFile | None]:
    """The locustfiles and SLOs a command was given: a bundled scenario brings load/slo.yaml
    unless --slo says otherwise; --slo-p99-ms adds an objective to either."""
    if (scenario is None) == (locustfile is None):
        raise LoadUsageError("give exactly one of --scenario NAME or -f LOCUSTFILE")
    files = [runner.scenario_file(scenario)] if scenario else runner.locustfiles(str(locustfile))
    chosen_slo = slo_file or (runner.DEFAULT_SLO if scenario else None)
    parsed = slo.load(chosen_slo) if chosen_slo is not None else None
    if slo_p99_ms is not None:
        parsed = slo.with_p99(parsed, slo_p99_ms)
    return files, parsed


@load_app.command("run")
def run_command(
    scenario: Scenario = None,
    locustfile: Locustfile = None,
    shape: Annotated[
        str | None, typer.Option(help="A bundled rate shape: ramp, step, spike, soak.")
    ] = None,
    host: Host = None,
    target: TargetProfile = None,
    rate: Annotated[
        float, typer.Option(help="Iterations started per second (open model).", min=0.001)
    ] = 10.0,
    duration: Annotated[str, typer.Option(help="How long: 30s, 5m, 1h.")] = "30s",
    workers: Workers = 0,
    slo_file: SloPath = None,
    slo_p99_ms: SloP99 = None,
    out: Annotated[Path | None, typer.Option(help="Results directory.")] = None,
    max_requests: Annotated[
        int | None, typer.Option(help="Stop sending after this many requests.", min=1)
    ] = None,
    poisson: Annotated[bool, typer.Option(help="Poisson arrivals instead of even ones.")] = False,
    i_own_this_target: OwnTarget = False,
) -> None:
    """Run a scenario at an arrival rate and gate it on its SLOs (exit 3 on a breach)."""
    try:
        duration_s = runner.parse_duration(duration)
        files, parsed = _workload(scenario, locustfile, slo_file, slo_p99_ms)
        if shape:
            files.append(runner.shape_file(shape))
        run_id = runner.new_run_id()
        out_dir = out or Path("reports") / "load" / run_id
        with runner.target_for(host, target, err_console) as (url, resolved, allowed):
            check_load_target(url, allow_hosts=allowed, i_own_this_target=i_own_this_target)
            slo_path = None
            if parsed is not None:
                out_dir.mkdir(parents=True, exist_ok=True)
                slo_path = slo.dump(parsed, out_dir / "slo.yaml")
            plan = LoadPlan(
                locustfiles=tuple(files),
                host=url,
                rate=rate,
                duration_s=duration_s,
                workers=workers,
                out=out_dir,
                slo_file=slo_path,
                max_requests=max_requests
                or min(
                    int(rate * duration_s * runner.MAX_REQUESTS_PER_ITERATION) + 1000, 50_000_000
                ),
                run_id=run_id,
                arrival_process="poisson" if poisson else "constant",
                target=resolved,
            )
            code, document = runner.run(plan, console)
            if document is not None and resolved is not None and resolved.prometheus_url:
                began = datetime.fromisoformat(document["started_at"])
                ended = began + timedelta(seconds=document["duration_s"])
                document["prometheus"] = prometheus_series(resolved.prometheus_url, began, ended)
                (plan.out / "results.json").write_text(json.dumps(document, indent=1))
    except (LoadUsageError, slo.SloError) as error:
        raise _fail(str(error), ExitCode.USAGE) from None
    except UnsafeTarget as error:
        raise _fail(f"refusing to load this target: {error}", ExitCode.RUN_INVALID) from None
    if document is not None:
        console.print(runner.endpoint_table(document))
        if document.get("slo"):
            console.print(runner.slo_table(document))
        for problem in document["generator"]["problems"]:
            console.print(f"[bold yellow]run invalid:[/] {problem}")
        arrivals = document["arrivals"]
        console.print(
            f"arrivals: {arrivals['intended']} due, {arrivals['started']} started "
            f"({arrivals['late']} late), {arrivals['dropped']} dropped; "
            f"results in {plan.out / 'results.json'}"
        )
        console.print(results.one_line(document))
    raise typer.Exit(code)


@load_app.command("capacity")
def capacity_command(
    scenario: Scenario = None,
    locustfile: Locustfile = None,
    host: Host = None,
    target: TargetProfile = None,
    slo_file: SloPath = None,
    slo_p99_ms: SloP99 = None,
    out: Annotated[Path | None, typer.Option(help="Directory for capacity.json, charts.")] = None,
    max_duration: Annotated[
        str, typer.Option(help="Time budget of the whole search: 3m, 10m.")
    ] = "10m",
    start_rate: Annotated[
        float, typer.Option(help="First step's arrival rate (per second).", min=0.1)
    ] = 10.0,
    max_rate: Annotated[float, typer.Option(help="Never offer more than this.", min=0.1)] = 2000.0,
    factor: Annotated[float, typer.Option(help="Rate multiplier of the steps up.", min=1.1)] = 2.0,
    tolerance: Annotated[
        float, typer.Option(help="Stop when the band is within this share (0.1: 10 %).")
    ] = 0.1,
    step_duration: Annotated[str, typer.Option(help="How long each step runs.")] = "20s",
    warmup: Annotated[
        str, typer.Option(help="Seconds at the start of each step not judged.")
    ] = "5s",
    workers: Workers = 0,
    baseline_file: Annotated[
        Path | None, typer.Option("--baseline", help="Compare with this capacity.json.")
    ] = None,
    save_baseline: Annotated[
        Path | None, typer.Option(help="Save this result as a baseline here.")
    ] = None,
    capacity_tolerance: Annotated[
        float, typer.Option(help="Capacity drop beyond the bands that is a regression.")
    ] = 0.15,
    latency_tolerance: Annotated[
        float, typer.Option(help="Per-endpoint p95 growth that is a regression.")
    ] = 0.5,
    i_own_this_target: OwnTarget = False,
) -> None:
    """Find the highest arrival rate at which every SLO holds (exit 3: SLOs break at any rate
    or a regression against --baseline; 5: the generator saturated)."""
    try:
        budget_s = runner.parse_duration(max_duration)
        step_s = runner.parse_duration(step_duration)
        warmup_s = runner.parse_duration(warmup) if warmup.strip() not in ("0", "0s") else 0
        if warmup_s >= step_s - 1:
            raise LoadUsageError("--warmup must leave at least two seconds of each step")
        files, parsed = _workload(scenario, locustfile, slo_file, slo_p99_ms)
        if parsed is None:
            raise LoadUsageError("a capacity search needs SLOs: --slo FILE or --slo-p99-ms MS")
        config = SearchConfig(
            start_rps=start_rate,
            factor=factor,
            tolerance=tolerance,
            max_rps=max_rate,
            budget_s=budget_s,
            step_s=step_s + STEP_OVERHEAD_S,
        )
        try:
            config.check()
        except ValueError as error:
            raise LoadUsageError(str(error)) from None
        baseline_document = baseline.load(baseline_file) if baseline_file else None
        run_id = runner.new_run_id()
        out_dir = out or Path("reports") / "capacity" / run_id
        with runner.target_for(host, target, err_console) as (url, resolved, allowed):
            check_load_target(url, allow_hosts=allowed, i_own_this_target=i_own_this_target)
            plan = CapacityPlan(
                locustfiles=tuple(files),
                host=url,
                slo=parsed,
                out=out_dir,
                search=config,
                step_duration_s=step_s,
                warmup_s=warmup_s,
                run_id=run_id,
                target=resolved,
                workers=workers,
                label=scenario or ",".join(p.name for p in files),
            )
            console.print(
                f"capacity search against {url}: from {start_rate:g}/s, x{factor:g} then "
                f"bisection to {tolerance:.0%}, {step_s} s steps ({warmup_s} s warm-up), "
                f"at most {budget_s} s",
                highlight=False,
            )
            index = iter(range(1, 10_000))
            document = run_capacity(
                plan,
                console,
                on_step=lambda step: console.print(capacity_report.step_line(next(index), step)),
            )
    except (LoadUsageError, slo.SloError, baseline.BaselineError) as error:
        raise _fail(str(error), ExitCode.USAGE) from None
    except UnsafeTarget as error:
        raise _fail(f"refusing to load this target: {error}", ExitCode.RUN_INVALID) from None
    capacity_report.print_result(document, console)
    code = capacity_exit_code(document)
    if baseline_document is not None:
        comparison = baseline.compare(
            document,
            baseline_document,
            baseline.Tolerances(capacity=capacity_tolerance, latency=latency_tolerance),
        )
        document["baseline"] = {"file": str(baseline_file), **comparison.to_json()}
        capacity_run.write(out_dir, document)
        console.print(capacity_report.comparison_table(comparison))
        if comparison.outcome == "regression" and code == ExitCode.PASS:
            code = ExitCode.SLO_BREACH
    if save_baseline is not None and document["status"] != "invalid":
        console.print(f"baseline saved to {baseline.save(document, save_baseline)}")
    console.print(f"results in {out_dir / capacity_run.CAPACITY_FILE}", highlight=False)
    raise typer.Exit(code)


def capacity_exit_code(document: dict[str, Any]) -> int:
    status = document["status"]
    if status == "invalid":
        return ExitCode.RUN_INVALID
    if status == "too_slow":
        return ExitCode.SLO_BREACH
    return ExitCode.PASS


@load_app.command("cleanup")
def cleanup_command(
    run: Annotated[str, typer.Option("--run", help="The run id (results.json run_id).")],
    target: TargetProfile = None,
) -> None:
    """Cancel every open order a load run created (order_ref PF-<run>-...) on the target."""
    try:
        with runner.target_for(None, target, err_console) as (_, resolved, _):
            if resolved is None:
                raise LoadUsageError("cleanup needs a target that gives a way to authenticate")
            cancelled, seen = cleanup_run(resolved, run)
    except LoadUsageError as error:
        raise _fail(str(error), ExitCode.USAGE) from None
    console.print(f"run {run}: cancelled {cancelled} open orders of {seen} it created")
