"""A load run's results: results.json (per endpoint HDR histograms and percentiles, corrected and
uncorrected; per second series; arrivals; generator health; the SLO verdict), charts, and the
exit code they imply."""

import json
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from preflight.load import histograms
from preflight.load.recording import Recording

CPU_SATURATED = 90.0
"""A generator whose process used more CPU than this (percent of one core)..."""
SATURATED_FRACTION = 0.5
"""...in at least this share of its samples (after the first few) invalidates the run."""
LOOP_LAG_LIMIT_MS = 100.0
"""So does an event loop whose p95 lag passed this."""
LATE_FRACTION_LIMIT = 0.1
"""And arrivals that started late (the generator fell behind its schedule) beyond this share."""
WARMUP_SAMPLES = 3

EXIT_OK, EXIT_SLO, EXIT_INVALID = 0, 3, 5


def build(recording: Recording, environment: Any | None = None) -> dict[str, Any]:
    recording.settle()
    options = getattr(environment, "parsed_options", None)
    seconds = sorted({s for series in recording.series.values() for s in series.per_second})
    first, last = (seconds[0], seconds[-1]) if seconds else (int(recording.started_at),) * 2
    duration = max(last - first + 1, 1)
    endpoints: dict[str, Any] = {}
    for name, series in sorted(recording.series.items()):
        count = int(series.uncorrected.get_total_count())
        endpoints[name] = {
            "requests": count,
            "errors": series.errors,
            "error_rate": series.errors / count if count else 0.0,
            "rps": count / duration,
            "corrected": histograms.summary(series.corrected),
            "uncorrected": histograms.summary(series.uncorrected),
            "histograms": {
                "corrected": histograms.encode(series.corrected),
                "uncorrected": histograms.encode(series.uncorrected),
            },
            "per_second": {
                str(second): {
                    "h": histograms.encode(bucket),
                    "e": series.errors_per_second.get(second, 0),
                }
                for second, bucket in sorted(series.per_second.items())
            },
        }
    corrected = histograms.merged(s.corrected for s in recording.series.values())
    uncorrected = histograms.merged(s.uncorrected for s in recording.series.values())
    requests = int(uncorrected.get_total_count())
    errors = sum(s.errors for s in recording.series.values())
    arrivals = vars(recording.arrivals)
    return {
        "version": 1,
        "host": getattr(environment, "host", None),
        "run_id": getattr(options, "preflight_run", "") or None,
        "started_at": datetime.fromtimestamp(first, UTC).isoformat(),
        "duration_s": duration,
        "target_rate": float(getattr(options, "arrival_rate", 0.0) or 0.0) or None,
        "arrivals": arrivals,
        "total": {
            "requests": requests,
            "errors": errors,
            "error_rate": errors / requests if requests else 0.0,
            "rps": requests / duration,
            "corrected": histograms.summary(corrected),
            "uncorrected": histograms.summary(uncorrected),
        },
        "endpoints": endpoints,
        "series": _series(recording, seconds),
        "generator": generator_health(recording.generators, arrivals),
    }


def _series(recording: Recording, seconds: list[int]) -> list[dict[str, Any]]:
    rows = []
    for second in seconds:
        buckets = [
            s.per_second[second] for s in recording.series.values() if second in s.per_second
        ]
        merged = histograms.merged(buckets)
        errors = sum(s.errors_per_second.get(second, 0) for s in recording.series.values())
        summary = histograms.summary(merged)
        rows.append(
            {
                "t": second - seconds[0],
                "requests": summary["count"],
                "errors": errors,
                "p50": summary["p50"],
                "p95": summary["p95"],
                "p99": summary["p99"],
            }
        )
    return rows


def generator_health(
    samples: dict[str, list[dict[str, float]]], arrivals: dict[str, int]
) -> dict[str, Any]:
    workers: dict[str, Any] = {}
    problems: list[str] = []
    for worker, series in sorted(samples.items()):
        steady = series[WARMUP_SAMPLES:] or series
        cpu = [s["cpu_percent"] for s in steady]
        lag = sorted(s["loop_lag_ms"] for s in steady)
        saturated = sum(1 for value in cpu if value >= CPU_SATURATED)
        lag_p95 = lag[min(int(len(lag) * 0.95), len(lag) - 1)] if lag else 0.0
        workers[worker] = {
            "samples": len(series),
            "cpu_mean": round(statistics.fmean(cpu), 1) if cpu else None,
            "cpu_max": max(cpu) if cpu else None,
            "loop_lag_p95_ms": round(lag_p95, 1),
            "loop_lag_max_ms": round(lag[-1], 1) if lag else None,
        }
        if len(cpu) >= 3 and saturated >= SATURATED_FRACTION * len(cpu):
            problems.append(
                f"generator {worker} used over {CPU_SATURATED:.0f}% CPU in {saturated} of "
                f"{len(cpu)} seconds"
            )
        if lag_p95 > LOOP_LAG_LIMIT_MS:
            problems.append(f"generator {worker} event loop lagged {lag_p95:.0f} ms (p95)")
    return {"valid": not problems, "problems": problems, "workers": workers}


def exit_code(document: dict[str, Any]) -> int:
    if not document.get("generator", {}).get("valid", True):
        return EXIT_INVALID
    verdict = document.get("slo")
    if verdict is not None and not verdict.get("passed", True):
        return EXIT_SLO
    return EXIT_OK


def one_line(document: dict[str, Any]) -> str:
    total = document["total"]
    corrected, uncorrected = total["corrected"], total["uncorrected"]
    verdict = {EXIT_OK: "passed", EXIT_SLO: "SLO BREACHED", EXIT_INVALID: "INVALID RUN"}[
        exit_code(document)
    ]
    return (
        f"preflight: {total['requests']} requests, {total['rps']:.1f}/s, "
        f"errors {total['error_rate']:.2%}, p99 corrected {corrected['p99']} ms "
        f"(uncorrected {uncorrected['p99']} ms): {verdict}"
    )


def write(out: Path, document: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    path.write_text(json.dumps(document, indent=1))
    from preflight.load.charts import write_charts

    write_charts(out, document)
    return path


def read(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def histogram(document: dict[str, Any], name: str, kind: str = "corrected") -> HdrHistogram:
    return histograms.decode(document["endpoints"][name]["histograms"][kind])
