"""One capacity search against a real target: one `preflight load run` of the scenario (the same
runner, the same open-model recording) whose arrival rate the search moves from step to step
through a control file (preflight.load.rate_control), each step judged on its steady seconds
from the run's live feed, with the target's own signals sampled beside it; then capacity.json
and its charts.

    plan = CapacityPlan(locustfiles=(...,), host=url, slo=slo_file, out=Path("reports/cap"), ...)
    document = run_capacity(plan, console)      # capacity.json's content, also written to out

A step runs for `step_duration_s` unless the live feed shows a clear breach first
(preflight.load.steady.clear_breach), and is judged without its first `warmup_s` seconds:
every SLO of the file, plus the iterations it completed against those offered (a target that
falls behind the arrival rate is not sustaining it, whatever its latencies say).
"""

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from preflight.load import rate_control, runner, slo, steady, usl
from preflight.load.capacity import SearchConfig, SearchResult, Step, search
from preflight.load.live_feed import LiveFeed
from preflight.load.runner import LoadPlan
from preflight.load.signals import SignalSampler, bottleneck, prometheus_series
from preflight.targets import Target

CAPACITY_FILE = "capacity.json"
DEFAULT_THROUGHPUT_RATIO = 0.95
SHAPE_TICK_S = 1.0
"""The rate shape reads the control file once a second: a new rate takes effect within it."""
POLL_S = 0.5
SETTLE_S = 4.0
MAX_DRAIN_S = 30.0
QUIET_S = 3.0
"""A drained target completed no request for this long (the feed lags a second or two)."""


@dataclass(frozen=True)
class CapacityPlan:
    locustfiles: tuple[Path, ...]
    host: str
    slo: slo.SloFile
    out: Path
    search: SearchConfig
    step_duration_s: int
    warmup_s: int
    run_id: str
    target: Target | None = None
    workers: int = 0
    label: str = ""


class ContinuousSteps:
    """The search's step executor over one running Locust: set the rate, hold it, judge the
    step's window of the live feed, sampling the target's signals meanwhile."""

    def __init__(
        self, plan: CapacityPlan, feed: LiveFeed, control: Path, ended: threading.Event
    ) -> None:
        self.plan = plan
        self.feed = feed
        self.control = control
        self.ended = ended
        self.cool_down = False
        self.slo = replace(plan.slo, min_throughput_ratio=None)  # judged on the steady part
        self.throughput_ratio = plan.slo.min_throughput_ratio or DEFAULT_THROUGHPUT_RATIO
        limits = [v for g in plan.slo.groups for k, v in g.objectives.items() if k.endswith("_ms")]
        self.latency_limit_ms = max(limits) if limits else None

    def wait_started(self, timeout_s: float) -> bool:
        """Whether Locust came up and started sending within timeout_s."""
        deadline = time.monotonic() + timeout_s
        while not self.ended.is_set() and time.monotonic() < deadline:
            self.feed.read()
            if self.feed.arrivals:
                return True
            self.ended.wait(0.5)
        return False

    def drain(self) -> None:
        """After a broken step, offer nothing until its backlog is served: the arrivals still
        queued in the generator and the requests queued at the target would otherwise land in
        the next step's seconds (with the latency of the step that queued them)."""
        rate_control.set_rate(self.control, 0.0)
        deadline = time.monotonic() + MAX_DRAIN_S
        while time.monotonic() < deadline and not self.ended.is_set():
            self.ended.wait(POLL_S)
            self.feed.read()
            if not self.feed.arrivals:
                continue
            counts = self.feed.arrivals[-1][1]
            queued = counts["intended"] - counts["dropped"] - counts["started"]
            latest = self.feed.latest_second()
            quiet = latest is None or latest <= time.time() - QUIET_S
            if queued <= 0 and quiet:
                return

    def __call__(self, rate: float, *, again: Step | None = None) -> Step:
        step = self.hold(rate, again)
        if step.invalid and not self.ended.is_set():
            # One starved second on a shared machine is not a saturated generator: retry once.
            self.drain()
            retried = self.hold(rate, again)
            retried.details["retried"] = step.details.get("generator", {}).get("problems", [])
            step = retried
        return step

    def hold(self, rate: float, again: Step | None = None) -> Step:
        """Offer `rate` for one step and judge it (with `again`'s steady seconds, if given and
        this attempt was not stopped early)."""
        if self.cool_down:
            self.drain()
        rate_control.set_rate(self.control, rate)
        start = time.time() + SHAPE_TICK_S
        early_stop: str | None = None
        with SignalSampler(self.plan.target) as sampler:
            deadline = start + self.plan.step_duration_s
            while time.time() < deadline and not self.ended.is_set():
                self.ended.wait(POLL_S)
                self.feed.read()
                early_stop = steady.clear_breach(
                    self.feed.window(start, time.time()),
                    warmup_s=self.plan.warmup_s,
                    latency_limit_ms=self.latency_limit_ms,
                )
                if early_stop is not None:
                    break
            end = time.time()
        settle = time.monotonic() + SETTLE_S  # the last second's buckets arrive a flush later
        while time.monotonic() < settle and not self.ended.is_set():
            self.feed.read()
            latest = self.feed.latest_second()
            if latest is not None and latest >= int(end) + 1:
                break
            self.ended.wait(POLL_S)
        if self.ended.is_set() and end < deadline and early_stop is None:
            return Step(rate, passed=False, invalid=True, breaches=["the load run ended"])
        window, warmup_s = self.feed.window(start, end), self.plan.warmup_s
        earlier = (again.details.get("window_s") if again is not None else None) or None
        if earlier is not None and early_stop is None:
            window = steady.pooled(self.feed.window(*earlier), window, warmup_s)
            warmup_s = 0
        step = judge(
            rate,
            window,
            self.slo,
            warmup_s=warmup_s,
            throughput_ratio=self.throughput_ratio,
            early_stop=early_stop,
            signals=sampler.summary(),
            per_iteration=self.feed.requests_per_iteration(),
        )
        step.details["window_s"] = [round(start, 3), round(end, 3)]
        step.details["pooled"] = earlier is not None and early_stop is None
        self.cool_down = not step.passed or step.invalid
        return step


def judge(
    rate: float,
    document: dict[str, Any],
    slo_file: slo.SloFile,
    *,
    warmup_s: int,
    throughput_ratio: float,
    early_stop: str | None = None,
    signals: dict[str, dict[str, float]] | None = None,
    per_iteration: float | None = None,
) -> Step:
    """A step's verdict from its results document: its steady seconds against the SLOs and the
    offered rate; invalid when its generator was saturated."""
    calm = steady.steady_document(document, warmup_s)
    verdict = slo.evaluate(slo_file, calm)
    if per_iteration is None:
        per_iteration = steady.requests_per_iteration(document)
    achieved = calm["total"]["rps"] / per_iteration
    verdict.rows.append(
        slo.Row(
            "iterations",
            "achieved/offered rate",
            throughput_ratio,
            round(achieved / rate, 4),
            achieved / rate >= throughput_ratio,
            "steady",
        )
    )
    breaches = [f"{row.group} {row.objective}" for row in verdict.breaches]
    if early_stop is not None:
        breaches.insert(0, f"stopped early: {early_stop}")
    generator = document.get("generator") or {}
    total = calm["total"]["corrected"]
    details = {
        "achieved_rps": round(achieved, 2),
        "requests_rps": round(calm["total"]["rps"], 2),
        "p50_ms": total["p50"],
        "p95_ms": total["p95"],
        "p99_ms": total["p99"],
        "mean_ms": total["mean"],
        "requests": calm["total"]["requests"],
        "errors": calm["total"]["errors"],
        "error_rate": round(calm["total"]["error_rate"], 4),
        "concurrency": steady.concurrency(calm),
        "steady_s": calm["duration_s"],
        "early_stop": early_stop,
        "slo": verdict.to_json()["rows"],
        "endpoints": {
            name: {
                "requests": data["requests"],
                "errors": data["errors"],
                **{q: data["corrected"][q] for q in ("p50", "p95", "p99")},
            }
            for name, data in sorted(calm["endpoints"].items())
        },
        "generator": {
            "valid": generator.get("valid", True),
            "problems": generator.get("problems", []),
        },
        "signals": signals or {},
    }
    return Step(
        rate=rate,
        passed=verdict.passed and early_stop is None,
        invalid=not generator.get("valid", True),
        # Falling behind the offered rate is queueing, not a stall: no second attempt for it.
        clear=early_stop is not None or achieved / rate < throughput_ratio,
        breaches=breaches,
        details=details,
    )


def run_capacity(
    plan: CapacityPlan,
    console: Console,
    on_step: Callable[[Step], None] | None = None,
) -> dict[str, Any]:
    """Start Locust once (the scenario plus the ControlledRate shape), search, stop it; write
    capacity.json (with the whole run's results.json and charts beside it)."""
    plan.out.mkdir(parents=True, exist_ok=True)
    control, live = plan.out / "control.json", plan.out / "live.jsonl"
    live.unlink(missing_ok=True)
    rate_control.set_rate(control, plan.search.start_rps)
    load_plan = LoadPlan(
        locustfiles=(*plan.locustfiles, rate_control.SHAPE_FILE),
        host=plan.host,
        rate=plan.search.start_rps,
        duration_s=int(plan.search.budget_s) + runner.STARTUP_GRACE_S,
        workers=plan.workers,
        out=plan.out,
        slo_file=None,
        max_requests=runner.default_max_requests(plan.search.max_rps, int(plan.search.budget_s)),
        run_id=plan.run_id,
        target=plan.target,
        extra_args=("--preflight-live", str(live), "--preflight-control", str(control)),
    )
    ended = threading.Event()
    finished: dict[str, Any] = {}

    def drive() -> None:
        try:
            finished["code"], finished["document"] = runner.run(load_plan, console)
        finally:
            ended.set()

    thread = threading.Thread(target=drive, name="locust", daemon=True)
    thread.start()
    steps = ContinuousSteps(plan, LiveFeed(live), control, ended)
    started = datetime.now(UTC)
    began = time.monotonic()
    try:
        if not steps.wait_started(min(runner.STARTUP_GRACE_S, plan.search.budget_s / 2)):
            result = SearchResult("invalid", "the load generator did not start", [], None, None)
        else:  # the budget is the whole command's: Locust's start-up comes out of it
            left = plan.search.budget_s - (time.monotonic() - began)
            config = replace(plan.search, budget_s=max(left, plan.search.step_s))
            result = search(steps, config, time.monotonic, on_step)
    finally:
        rate_control.stop(control)
        thread.join(timeout=runner.STOP_TIMEOUT_S + 60)
    finished_at = datetime.now(UTC)
    document = build_document(plan, result, started, finished_at, time.monotonic() - began)
    if plan.target is not None and plan.target.prometheus_url:
        document["prometheus"] = prometheus_series(plan.target.prometheus_url, started, finished_at)
    write(plan.out, document)
    return document


def build_document(
    plan: CapacityPlan,
    result: SearchResult,
    started: datetime,
    finished: datetime,
    elapsed_s: float,
) -> dict[str, Any]:
    steps = [_step_json(step) for step in result.steps]
    valid = [s for s in result.steps if not s.invalid and s.details.get("concurrency")]
    fit = usl.fit([(s.details["concurrency"], s.details["requests_rps"]) for s in valid])
    passing = [s for s in result.steps if s.passed]
    best = max(passing, key=lambda s: s.rate) if passing else None
    breach = result.first_breach
    below = max(
        (s for s in passing if breach is not None and s.rate < breach.rate),
        key=lambda s: s.rate,
        default=None,
    )
    return {
        "version": 1,
        "kind": "capacity",
        "label": plan.label,
        "run_id": plan.run_id,
        "host": plan.host,
        "started_at": started.isoformat(),
        "finished_at": finished.isoformat(),
        "duration_s": round(elapsed_s, 1),
        "locustfiles": [str(p) for p in plan.locustfiles],
        "config": {
            **asdict(plan.search),
            "step_duration_s": plan.step_duration_s,
            "warmup_s": plan.warmup_s,
        },
        "status": result.status,
        "reason": result.reason,
        "max_sustainable_rps": result.max_sustainable_rps,
        "band": {"low": result.last_pass, "high": result.first_fail},
        "max_sustainable_requests_rps": best.details.get("requests_rps") if best else None,
        "first_breach": None
        if breach is None
        else {"rate": breach.rate, "breaches": breach.breaches},
        "bottleneck": None
        if breach is None
        else bottleneck(
            breach.details.get("signals") or {},
            (below.details.get("signals") or {}) if below is not None else None,
        ),
        "usl": fit.to_json(),
        "endpoints": best.details.get("endpoints", {}) if best else {},
        "slo": best.details.get("slo", []) if best else [],
        "slo_at_breach": breach.details.get("slo", []) if breach else [],
        "steps": steps,
    }


def _step_json(step: Step) -> dict[str, Any]:
    return {
        "rate": step.rate,
        "phase": step.phase,
        "verdict": step.verdict,
        "superseded": step.superseded,
        "breaches": step.breaches,
        **step.details,
    }


def write(out: Path, document: dict[str, Any]) -> Path:
    path = out / CAPACITY_FILE
    path.write_text(json.dumps(document, indent=1))
    from preflight.load import charts  # matplotlib: imported when there is something to draw

    charts.write_capacity_charts(out, document)
    return path
