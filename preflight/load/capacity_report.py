"""A capacity result for people: the step lines printed as the search goes, the tables at its
end (steps with their server-side signals, the baseline comparison) and the one-line answer."""

from typing import Any

from rich.console import Console
from rich.table import Table

from preflight.load.baseline import Comparison
from preflight.load.capacity import Step

CAPACITY_CHARTS = ("capacity_throughput.png", "capacity_latency.png", "capacity_usl.png")
"""What preflight.load.charts draws for a capacity search."""
SIGNAL_LABELS = {
    "cpu_percent": ("cpu", "{:.0f}%"),
    "db_pool_utilisation": ("pool", "{:.0%}"),
    "pg_connections": ("pg conns", "{:.0f}"),
    "replica_lag_s": ("replica lag", "{:.2f}s"),
    "pg_replica_replay_lag_s": ("replay lag", "{:.2f}s"),
    "cache_hit_ratio": ("cache hits", "{:.0%}"),
    "outbox_lag_s": ("outbox lag", "{:.2f}s"),
    "consumer_lag_events": ("consumer lag", "{:.0f}"),
    "request_rate": ("req/s", "{:.0f}"),
}


def signals_text(signals: dict[str, dict[str, float]], limit: int = 8) -> str:
    """The step's most telling signals in one short line: CPU, pool, lags first."""
    parts = []
    for key, (label, form) in SIGNAL_LABELS.items():
        for service, values in sorted(signals.items()):
            if key in values and (key != "consumer_lag_events" or values[key] > 0):
                parts.append(f"{service} {label} {form.format(values[key])}")
    return ", ".join(parts[:limit]) or "-"


def step_line(index: int, step: Step) -> str:
    d = step.details
    verdict = {
        "pass": "[green]pass[/]",
        "fail": "[bold red]FAIL[/]",
        "invalid": "[bold yellow]INVALID[/]",
    }[step.verdict]
    if step.superseded:
        verdict = "[yellow]fail, running it again[/]"
    elif d.get("pooled"):
        verdict += " (both attempts)"
    line = (
        f"step {index:>2} {step.phase:<6} {step.rate:>8g}/s  achieved "
        f"{d.get('achieved_rps', 0):>7.1f}/s  p50/p95/p99 {d.get('p50_ms')}/{d.get('p95_ms')}/"
        f"{d.get('p99_ms')} ms  errors {d.get('error_rate', 0):.1%}  {verdict}"
    )
    if step.breaches:
        line += f"  ({'; '.join(step.breaches[:3])})"
    signals = signals_text(d.get("signals") or {}, limit=4)
    if signals != "-":
        line += f"\n         [dim]{signals}[/]"
    return line


def steps_table(document: dict[str, Any]) -> Table:
    table = Table(title="Capacity steps (steady seconds; latencies corrected, ms)")
    for column in (
        "rate/s",
        "phase",
        "achieved/s",
        "p50",
        "p95",
        "p99",
        "errors",
        "N",
        "verdict",
        "server side",
    ):
        table.add_column(column, justify="left" if column in ("phase", "server side") else "right")
    for step in document["steps"]:
        verdict = {"pass": "[green]pass[/]", "fail": "[red]FAIL[/]"}.get(
            step["verdict"], "[yellow]invalid[/]"
        )
        if step.get("superseded"):
            verdict = "[yellow]fail, run again[/]"
        elif step.get("pooled"):
            verdict += " (both)"
        table.add_row(
            f"{step['rate']:g}",
            step["phase"],
            f"{step.get('achieved_rps', 0):.1f}",
            str(step.get("p50_ms")),
            str(step.get("p95_ms")),
            str(step.get("p99_ms")),
            f"{step.get('error_rate', 0):.1%}",
            f"{step['concurrency']:.1f}" if step.get("concurrency") is not None else "-",
            verdict,
            signals_text(step.get("signals") or {}),
        )
    return table


def answer(document: dict[str, Any]) -> str:
    """The search's answer in one line."""
    band = document["band"]
    status = document["status"]
    if status == "invalid":
        return f"capacity: RUN INVALID: {document['reason']}"
    if status == "too_slow":
        return f"capacity: none: {document['reason']}"
    if status == "no_breach":
        return f"capacity: at least {band['low']:g}/s ({document['reason']})"
    high = f"{band['high']:g}" if band["high"] is not None else "?"
    low = band["low"] if band["low"] is not None else 0.0
    return (
        f"capacity: {low:g}/s sustained within every SLO (band [{low:g}, {high}]/s; "
        f"{status}: {document['reason']})"
    )


def print_result(document: dict[str, Any], console: Console) -> None:
    console.print(steps_table(document))
    console.print(answer(document), highlight=False)
    breach = document.get("first_breach")
    if breach:
        console.print(
            f"first SLO to break: {', '.join(breach['breaches'][:4])} at {breach['rate']:g}/s",
            highlight=False,
        )
    found = document.get("bottleneck")
    if found:
        console.print(f"likely bottleneck: {found['text']}", highlight=False)
    console.print(usl_text(document["usl"]), highlight=False)


def usl_text(fit: dict[str, Any]) -> str:
    if fit.get("sigma") is None:
        return f"USL: {fit['reason']}"
    return (
        f"USL: sigma {fit['sigma']:.4f}, kappa {fit['kappa']:.6f}, lambda {fit['lambda']:.2f}/s"
        f" over {fit['points']} steps; {fit['reason']}"
    )


def comparison_table(comparison: Comparison) -> Table:
    table = Table(title=f"Against the baseline: {comparison.outcome}")
    for column in ("what", "baseline", "now", "outcome", "note"):
        table.add_column(column)
    styles = {"regression": "bold red", "improvement": "green", "unchanged": "", "": ""}
    for row in comparison.rows:
        style = styles.get(row.outcome, "dim")
        outcome = f"[{style}]{row.outcome}[/]" if style else row.outcome
        table.add_row(row.what, row.baseline, row.current, outcome, row.note)
    return table
