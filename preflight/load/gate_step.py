"""The gate's load step: the order-flow scenario against the target's gateway, gated on
load/slo.yaml, its results under <reports>/load/ and in the Allure report.

    smoke     order_flow at 30 requests/s for 20 s: does the release hold its SLOs under load
    capacity  a short capacity search of order_flow (at most CAPACITY_BUDGET_S): the highest
              rate every SLO holds at must reach SMOKE_RATE, and must not have regressed
              against the baseline kept in <reports>/baseline/capacity.json (exit 3); a run
              that passes becomes the next run's baseline (the first run only records one)
    none      no load
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from preflight.load import baseline, capacity_report, results, runner, slo
from preflight.load.allure_results import write_allure_results, write_test
from preflight.load.capacity import SearchConfig
from preflight.load.capacity_report import CAPACITY_CHARTS
from preflight.load.capacity_run import CapacityPlan, run_capacity
from preflight.load.runner import LoadPlan
from preflight.safety import UnsafeTarget, check_load_target
from preflight.targets import Target
from preflight.verdict import ExitCode, Verdict

MODES = ("smoke", "capacity", "none")
SMOKE_RATE = 30.0
SMOKE_DURATION_S = 20
CAPACITY_BUDGET_S = 170
CAPACITY_SEARCH = SearchConfig(
    start_rps=20.0, factor=2.0, tolerance=0.15, max_rps=1000.0, budget_s=CAPACITY_BUDGET_S,
    step_s=16.0,
)  # fmt: skip
CAPACITY_STEP_S = 12
CAPACITY_WARMUP_S = 4
BASELINE_FILE = Path("baseline") / "capacity.json"
"""Under the reports directory, which the gate does not clear between runs (like history)."""


@dataclass(frozen=True)
class LoadStepResult:
    verdict: Verdict
    mode: str
    document: dict[str, Any]
    """results.json (smoke) or capacity.json (capacity)."""
    out: Path


def run_load_step(
    mode: str,
    target: Target,
    *,
    reports: Path,
    allure_results: Path,
    run_id: str,
    i_own_this_target: bool,
    console: Console,
) -> LoadStepResult | Verdict | None:
    """The step's result, a verdict when it could not run, or None when there is nothing to
    run."""
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
    if mode == "capacity":
        return _capacity(url, target, reports, allure_results, run_id, console)
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
    return LoadStepResult(_smoke_verdict(code, document), "smoke", document, out)


def _smoke_verdict(code: int, document: dict[str, Any]) -> Verdict:
    if code == ExitCode.RUN_INVALID:
        problems = "; ".join(document["generator"]["problems"])
        return Verdict(ExitCode.RUN_INVALID, f"load run invalid: {problems}")
    if code == ExitCode.SLO_BREACH:
        breaches = [r for r in document["slo"]["rows"] if not r["passed"]]
        names = ", ".join(f"{r['group']} {r['objective']}" for r in breaches[:5])
        return Verdict(ExitCode.SLO_BREACH, f"SLO breached under load: {names}")
    return Verdict(ExitCode.PASS, "every SLO held under load")


def _capacity(
    url: str,
    target: Target,
    reports: Path,
    allure_results: Path,
    run_id: str,
    console: Console,
) -> LoadStepResult:
    out = reports / "load" / "capacity"
    plan = CapacityPlan(
        locustfiles=(runner.scenario_file("order_flow"),),
        host=url,
        slo=slo.load(runner.DEFAULT_SLO),
        out=out,
        search=CAPACITY_SEARCH,
        step_duration_s=CAPACITY_STEP_S,
        warmup_s=CAPACITY_WARMUP_S,
        run_id=f"{run_id}-capacity",
        target=target,
        label="order_flow capacity",
    )
    index = iter(range(1, 1000))
    document = run_capacity(
        plan,
        console,
        on_step=lambda step: console.print(capacity_report.step_line(next(index), step)),
    )
    capacity_report.print_result(document, console)
    saved = reports / BASELINE_FILE
    comparison = None
    if saved.is_file():
        try:
            comparison = baseline.compare(document, baseline.load(saved))
        except baseline.BaselineError as error:
            console.print(f"[yellow]baseline ignored:[/] {error}")
    if comparison is not None:
        document["baseline"] = {"file": str(saved), **comparison.to_json()}
        console.print(capacity_report.comparison_table(comparison))
    verdict = capacity_verdict(document)
    if verdict.passed and document["status"] != "invalid":
        baseline.save(document, saved)
    document["verdict"] = {"exit_code": int(verdict.exit_code), "reason": verdict.reason}
    (out / "capacity.json").write_text(json.dumps(document, indent=1))
    write_capacity_allure(document, out, allure_results)
    return LoadStepResult(verdict, "capacity", document, out)


def capacity_verdict(document: dict[str, Any], required_rps: float = SMOKE_RATE) -> Verdict:
    """The gate's reading of a capacity search: invalid (5), SLOs broken at any rate or below
    the required rate, or a regression against the baseline (3), else a pass."""
    status = document["status"]
    if status == "invalid":
        return Verdict(ExitCode.RUN_INVALID, f"capacity search invalid: {document['reason']}")
    if status == "too_slow":
        return Verdict(ExitCode.SLO_BREACH, f"no sustainable rate: {document['reason']}")
    sustained = document["band"]["low"]
    if sustained is not None and sustained < required_rps:
        return Verdict(
            ExitCode.SLO_BREACH,
            f"capacity {sustained:g}/s is below the required {required_rps:g}/s",
        )
    compared = document.get("baseline")
    if compared and compared["outcome"] == "regression":
        rows = [r for r in compared["rows"] if r["outcome"] == "regression"]
        what = "; ".join(f"{r['what']} {r['baseline']} -> {r['current']}" for r in rows[:3])
        return Verdict(ExitCode.SLO_BREACH, f"capacity regressed against the baseline: {what}")
    against = f" ({compared['outcome']} against the baseline)" if compared else " (no baseline)"
    return Verdict(ExitCode.PASS, capacity_report.answer(document) + against)


def write_capacity_allure(document: dict[str, Any], out: Path, allure_results: Path) -> None:
    """The capacity search as Allure tests beside the suites: one per SLO at the highest rate
    that held, and one for the capacity against its baseline, with the charts attached."""
    rows = document.get("slo") or []
    compared = document.get("baseline") or {}
    verdict = document.get("verdict") or {}
    as_results = {
        "slo": {"passed": all(r["passed"] for r in rows), "rows": rows},
        "generator": {
            "valid": document["status"] != "invalid",
            "problems": [document["reason"]] if document["status"] == "invalid" else [],
        },
    }
    write_allure_results(as_results, out, allure_results, "order_flow capacity")
    write_test(
        allure_results,
        name="capacity against the baseline",
        suite="order_flow capacity",
        passed=verdict.get("exit_code", 0) == 0,
        message=f"{capacity_report.answer(document)}; baseline: "
        + str(compared.get("outcome", "none recorded yet")),
        files=[out / name for name in (*CAPACITY_CHARTS, "capacity.json")],
    )
