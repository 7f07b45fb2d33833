"""The `preflight load` commands: run (a scenario or any locustfile at an arrival rate, gated on
SLOs) and cleanup (cancel what a run left open on a target)."""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from preflight.load import results, runner, slo
from preflight.load.cleanup import cleanup_run
from preflight.load.runner import LoadPlan, LoadUsageError
from preflight.safety import UnsafeTarget, check_load_target
from preflight.verdict import ExitCode

console = Console()
err_console = Console(stderr=True, soft_wrap=True)

load_app = typer.Typer(
    help="Load tests on Locust: open-model scenarios, shapes, SLO gates.", no_args_is_help=True
)


def _fail(message: str, code: int) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


@load_app.command("run")
def run_command(
    scenario: Annotated[
        str | None, typer.Option(help="A bundled scenario (load/scenarios/NAME.py).")
    ] = None,
    locustfile: Annotated[
        str | None,
        typer.Option("-f", "--locustfile", help="Any locustfile(s), comma-separated, instead."),
    ] = None,
    shape: Annotated[
        str | None, typer.Option(help="A bundled rate shape: ramp, step, spike, soak.")
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Base URL to load (default: the gateway).")
    ] = None,
    target: Annotated[
        Path | None, typer.Option(help="A target profile (TOML); default: the embedded stack.")
    ] = None,
    rate: Annotated[
        float, typer.Option(help="Iterations started per second (open model).", min=0.001)
    ] = 10.0,
    duration: Annotated[str, typer.Option(help="How long: 30s, 5m, 1h.")] = "30s",
    workers: Annotated[
        int, typer.Option(help="Locust workers (0: one process).", min=0, max=64)
    ] = 0,
    slo_file: Annotated[
        Path | None,
        typer.Option("--slo", help="SLO file (default: load/slo.yaml for bundled scenarios)."),
    ] = None,
    slo_p99_ms: Annotated[
        float | None, typer.Option(help="Add a p99 objective (ms) on every request.", min=0)
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Results directory.")] = None,
    max_requests: Annotated[
        int | None, typer.Option(help="Stop sending after this many requests.", min=1)
    ] = None,
    poisson: Annotated[bool, typer.Option(help="Poisson arrivals instead of even ones.")] = False,
    i_own_this_target: Annotated[
        bool,
        typer.Option("--i-own-this-target", help="Allow a non-loopback host the profile lists."),
    ] = False,
) -> None:
    """Run a scenario at an arrival rate and gate it on its SLOs (exit 3 on a breach)."""
    try:
        duration_s = runner.parse_duration(duration)
        if (scenario is None) == (locustfile is None):
            raise LoadUsageError("give exactly one of --scenario NAME or -f LOCUSTFILE")
        files = (
            [runner.scenario_file(scenario)] if scenario else runner.locustfiles(str(locustfile))
        )
        if shape:
            files.append(runner.shape_file(shape))
        chosen_slo = slo_file or (runner.DEFAULT_SLO if scenario else None)
        parsed = slo.load(chosen_slo) if chosen_slo is not None else None
        if slo_p99_ms is not None:
            parsed = slo.with_p99(parsed, slo_p99_ms)
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


@load_app.command("cleanup")
def cleanup_command(
    run: Annotated[str, typer.Option("--run", help="The run id (results.json run_id).")],
    target: Annotated[
        Path | None, typer.Option(help="A target profile (TOML); default: the embedded stack.")
    ] = None,
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
