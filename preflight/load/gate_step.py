"""The gate's load step: the order-flow scenario against the target's gateway, gated on
load/slo.yaml, its results under <reports>/load/ and in the Allure report.

    smoke   order_flow at 30 requests/s for 20 s: does the release hold its SLOs under load
    none    no load
"""

from pathlib import Path

from rich.console import Console

from preflight.load import results, runner
from preflight.load.allure_results import write_allure_results
from preflight.load.runner import LoadPlan
from preflight.safety import UnsafeTarget, check_load_target
from preflight.targets import Target
from preflight.verdict import ExitCode, Verdict

MODES = ("smoke", "none")
SMOKE_RATE = 30.0
SMOKE_DURATION_S = 20


def run_load_step(
    mode: str,
    target: Target,
    *,
    reports: Path,
    allure_results: Path,
    run_id: str,
    i_own_this_target: bool,
    console: Console,
) -> Verdict | None:
    """The step's verdict, or None when there is nothing to run."""
    if mode == "none":
        return None
    if "gateway" not in target.services:
        console.print("load skipped: the target has no gateway")
        return None
    url = target.url("gateway")
    try:
        check_load_target(
            url, allow_hosts=target.allow_load_hosts, i_own_this_target=i_own_this_target
        )
    except UnsafeTarget as error:
        return Verdict(ExitCode.RUN_INVALID, f"load refused: {error} (or pass --load none)")
    out = reports / "load" / "smoke"
    plan = LoadPlan(
        locustfiles=(runner.scenario_file("order_flow"),),
        host=url,
        rate=SMOKE_RATE,
        duration_s=SMOKE_DURATION_S,
        workers=0,
        out=out,
        slo_file=runner.DEFAULT_SLO,
        max_requests=runner.default_max_requests(SMOKE_RATE, SMOKE_DURATION_S),
        run_id=f"{run_id}-load",
        target=target,
    )
    code, document = runner.run(plan, console)
    if document is None:
        return Verdict(ExitCode.RUN_INVALID, "the load run produced no results")
    console.print(runner.endpoint_table(document))
    console.print(runner.slo_table(document))
    console.print(results.one_line(document))
    write_allure_results(document, out, allure_results, "order_flow smoke")
    if code == ExitCode.RUN_INVALID:
        problems = "; ".join(document["generator"]["problems"])
        return Verdict(ExitCode.RUN_INVALID, f"load run invalid: {problems}")
    if code == ExitCode.SLO_BREACH:
        breaches = [r for r in document["slo"]["rows"] if not r["passed"]]
        names = ", ".join(f"{r['group']} {r['objective']}" for r in breaches[:5])
        return Verdict(ExitCode.SLO_BREACH, f"SLO breached under load: {names}")
    return Verdict(ExitCode.PASS, "every SLO held under load")
