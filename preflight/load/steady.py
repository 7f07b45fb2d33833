"""The steady part of a load run, and the signs that a run has clearly broken before its end.

A capacity step starts cold (connections opening, caches filling, the arrival schedule starting)
and is cut at its end mid-second: its first `warmup_s` seconds and its last, partial, second are
discarded, and the step is judged (SLOs, throughput, Little's-law concurrency) on what remains,
from the per-second HDR histograms results.json keeps for every endpoint (corrected for
coordinated omission; the uncorrected ones exist only for the whole run).

`clear_breach` reads the step so far (from the live feed): a step whose latency is several
times the loosest SLO for seconds on end, or that mostly fails, or whose generator drops
arrivals, will not recover by waiting for the end of the step.
"""

from typing import Any

from preflight.load import histograms

CLEAR_BREACH_FACTOR = 3.0
"""A step is stopped when its p99 passes this many times the loosest latency objective..."""
CLEAR_BREACH_SECONDS = 3
"""...in each of this many consecutive seconds (after the warm-up)..."""
CLEAR_ERROR_RATE = 0.5
"""...or when more than this share of its requests fail over those seconds."""
MIN_CLEAR_REQUESTS = 10


def _seconds(document: dict[str, Any]) -> list[int]:
    return sorted(
        {int(s) for data in document["endpoints"].values() for s in data.get("per_second", {})}
    )


def _steady_seconds(seconds: list[int], warmup_s: int) -> list[int]:
    kept = [s for s in seconds if seconds[0] + warmup_s <= s < seconds[-1]]
    return kept if len(kept) >= 2 else seconds  # too short to trim: judge the whole run


def steady_document(document: dict[str, Any], warmup_s: int) -> dict[str, Any]:
    """The results document as if the run had been only its steady seconds."""
    seconds = _seconds(document)
    if not seconds:
        return {**document, "duration_s": 0, "total": _empty_total()}
    kept = _steady_seconds(seconds, warmup_s)
    duration = kept[-1] - kept[0] + 1
    wanted = {str(s) for s in kept}
    endpoints: dict[str, Any] = {}
    for name, data in document["endpoints"].items():
        per_second = {k: v for k, v in data.get("per_second", {}).items() if k in wanted}
        corrected = histograms.merged(histograms.decode(b["h"]) for b in per_second.values())
        requests = int(corrected.get_total_count())
        errors = sum(int(b["e"]) for b in per_second.values())
        endpoints[name] = {
            "requests": requests,
            "errors": errors,
            "error_rate": errors / requests if requests else 0.0,
            "rps": requests / duration,
            "corrected": histograms.summary(corrected),
            "histograms": {"corrected": histograms.encode(corrected)},
            "per_second": per_second,
        }
    total = histograms.merged(
        histograms.decode(e["histograms"]["corrected"]) for e in endpoints.values()
    )
    requests = int(total.get_total_count())
    errors = sum(e["errors"] for e in endpoints.values())
    return {
        **document,
        "duration_s": duration,
        "warmup_s": warmup_s,
        "endpoints": endpoints,
        "total": {
            "requests": requests,
            "errors": errors,
            "error_rate": errors / requests if requests else 0.0,
            "rps": requests / duration,
            "corrected": histograms.summary(total),
        },
    }


def pooled(first: dict[str, Any], second: dict[str, Any], warmup_s: int) -> dict[str, Any]:
    """Two windows of the live feed at the same rate as one window: the steady seconds of each
    (as `steady_document` keeps them), the second's renumbered to follow the first's, their gaps
    kept, then the second's last second (which `steady_document` drops again). Judge it with
    warmup_s=0: it has no warm-up left. Arrivals add up; the generator is valid if both were."""
    parts: list[tuple[dict[str, Any], dict[int, int]]] = []
    next_second = 0
    for document in (first, second):
        seconds = _seconds(document)
        if not seconds:
            continue
        kept = _steady_seconds(seconds, warmup_s)
        if document is second and seconds[-1] not in kept:
            kept = [*kept, seconds[-1]]
        parts.append((document, {s: next_second + s - kept[0] for s in kept}))
        next_second += kept[-1] - kept[0] + 1
    endpoints: dict[str, Any] = {}
    for document, renumbered in parts:
        for name, data in document["endpoints"].items():
            per_second = endpoints.setdefault(name, {"per_second": {}})["per_second"]
            for at, bucket in data.get("per_second", {}).items():
                if int(at) in renumbered:
                    per_second[str(renumbered[int(at)])] = bucket
    arrivals: dict[str, int] = {}
    for document in (first, second):
        counts: dict[str, Any] = document.get("arrivals") or {}
        for key, count in counts.items():
            arrivals[key] = arrivals.get(key, 0) + int(count)
    generators = [document.get("generator") or {} for document in (first, second)]
    return {
        "endpoints": endpoints,
        "arrivals": arrivals,
        "generator": {
            **generators[1],
            "valid": all(g.get("valid", True) for g in generators),
            "problems": [p for g in generators for p in g.get("problems", [])],
        },
    }


def requests_per_iteration(document: dict[str, Any]) -> float:
    """Requests one iteration of the scenario sends, on average (1 for one-request tasks)."""
    completed = int((document.get("arrivals") or {}).get("completed") or 0)
    requests = sum(row["requests"] for row in second_rows(document))
    return requests / completed if completed and requests else 1.0


def concurrency(steady: dict[str, Any]) -> float | None:
    """Little's law over the steady seconds: requests in flight = throughput x mean latency."""
    mean_ms = steady["total"]["corrected"].get("mean")
    if mean_ms is None:
        return None
    return float(steady["total"]["rps"]) * float(mean_ms) / 1000


def second_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Per second, over every endpoint: requests, errors and corrected p99 (ms)."""
    by_second: dict[int, list[tuple[str, int]]] = {}
    for data in document["endpoints"].values():
        for second, bucket in data.get("per_second", {}).items():
            by_second.setdefault(int(second), []).append((bucket["h"], int(bucket["e"])))
    rows = []
    for second in sorted(by_second):
        merged = histograms.merged(histograms.decode(h) for h, _ in by_second[second])
        count = int(merged.get_total_count())
        rows.append(
            {
                "second": second,
                "requests": count,
                "errors": sum(e for _, e in by_second[second]),
                "p99": histograms.percentile_ms(merged, 99.0) if count else None,
            }
        )
    return rows


def clear_breach(
    document: dict[str, Any], *, warmup_s: int, latency_limit_ms: float | None
) -> str | None:
    """Why the step (a window document, see live_feed) can stop now, or None to run on."""
    if (document.get("arrivals") or {}).get("dropped"):
        return "arrivals dropped: the generator's queue overflowed"
    rows = second_rows(document)
    if not rows:
        return None
    rows = [r for r in rows[:-1] if r["second"] >= rows[0]["second"] + warmup_s]
    recent = rows[-CLEAR_BREACH_SECONDS:]
    if len(recent) < CLEAR_BREACH_SECONDS:
        return None
    requests = sum(int(r["requests"]) for r in recent)
    if requests < MIN_CLEAR_REQUESTS:
        return None
    errors = sum(int(r["errors"]) for r in recent)
    if errors / requests > CLEAR_ERROR_RATE:
        return f"{errors / requests:.0%} of requests failed over {len(recent)} s"
    if latency_limit_ms is not None:
        limit = CLEAR_BREACH_FACTOR * latency_limit_ms
        p99s = [r["p99"] for r in recent]
        if all(p is not None and p > limit for p in p99s):
            lowest = min(p for p in p99s if p is not None)
            return (
                f"p99 above {limit:g} ms ({CLEAR_BREACH_FACTOR:g}x the loosest objective) for "
                f"{len(recent)} s (at least {lowest:.0f} ms)"
            )
    return None


def _empty_total() -> dict[str, Any]:
    return {
        "requests": 0,
        "errors": 0,
        "error_rate": 0.0,
        "rps": 0.0,
        "corrected": histograms.summary(histograms.new()),
    }
