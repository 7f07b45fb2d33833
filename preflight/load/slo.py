"""Service level objectives of a load run (load/slo.yaml), evaluated over the whole run and over
sliding windows, on histograms merged from every generator (percentiles are never averaged).

    window_s: 10                 # sliding windows of this many seconds, one per second
    max_breached_windows: 0.1    # share of windows allowed to break an objective (noise)
    min_window_requests: 20      # windows with fewer requests of a group are not judged
    min_throughput_ratio: 0.95   # iterations completed / iterations due (open model)
    groups:
      - name: order writes
        match: "^POST /orders"   # regular expression on "<METHOD> <name>"
        p95_ms: 300
        p99_ms: 800
        max_error_rate: 0.01
        min_rps: 5
"""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hdrh.histogram import HdrHistogram

from preflight.load import histograms

LATENCY_OBJECTIVES = {"p50_ms": 50.0, "p95_ms": 95.0, "p99_ms": 99.0}


class SloError(ValueError):
    """The SLO file is missing, malformed or names an unknown objective."""


@dataclass(frozen=True)
class Group:
    name: str
    match: re.Pattern[str]
    objectives: dict[str, float]


@dataclass(frozen=True)
class SloFile:
    groups: tuple[Group, ...]
    window_s: int = 10
    max_breached_windows: float = 0.1
    min_window_requests: int = 20
    min_throughput_ratio: float | None = None


@dataclass
class Row:
    group: str
    objective: str
    threshold: float
    actual: float | None
    passed: bool
    scope: str
    """"run", or "windows" (actual = the share of windows that broke it)."""


@dataclass
class Verdict:
    rows: list[Row] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    @property
    def breaches(self) -> list[Row]:
        return [row for row in self.rows if not row.passed]

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "rows": [vars(row) for row in self.rows]}


_KNOWN = {*LATENCY_OBJECTIVES, "max_error_rate", "min_rps"}


def load(path: Path) -> SloFile:
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as error:
        raise SloError(f"cannot read SLO file {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise SloError(f"{path} is not YAML: {error}") from None
    return parse(raw, str(path))


def parse(raw: Any, source: str = "SLO") -> SloFile:
    if not isinstance(raw, dict) or not isinstance(raw.get("groups"), list) or not raw["groups"]:
        raise SloError(f"{source}: expected a mapping with a non-empty 'groups' list")
    groups = []
    for index, item in enumerate(raw["groups"]):
        if not isinstance(item, dict) or "name" not in item or "match" not in item:
            raise SloError(f"{source}: group {index + 1} needs 'name' and 'match'")
        objectives = {k: v for k, v in item.items() if k not in ("name", "match")}
        unknown = set(objectives) - _KNOWN
        if unknown:
            raise SloError(
                f"{source}: group {item['name']!r} has unknown objectives {sorted(unknown)} "
                f"(known: {sorted(_KNOWN)})"
            )
        if not objectives:
            raise SloError(f"{source}: group {item['name']!r} sets no objective")
        try:
            pattern = re.compile(str(item["match"]))
        except re.error as error:
            raise SloError(f"{source}: group {item['name']!r}: bad match: {error}") from None
        groups.append(
            Group(str(item["name"]), pattern, {k: float(v) for k, v in objectives.items()})
        )
    ratio = raw.get("min_throughput_ratio")
    return SloFile(
        groups=tuple(groups),
        window_s=int(raw.get("window_s", 10)),
        max_breached_windows=float(raw.get("max_breached_windows", 0.1)),
        min_window_requests=int(raw.get("min_window_requests", 20)),
        min_throughput_ratio=None if ratio is None else float(ratio),
    )


def with_p99(slo: SloFile | None, p99_ms: float) -> SloFile:
    """The SLO file with a p99 objective on every request added (`--slo-p99-ms`)."""
    group = Group("all requests", re.compile(".*"), {"p99_ms": p99_ms})
    if slo is None:
        return SloFile(groups=(group,))
    return SloFile(
        groups=(*slo.groups, group),
        window_s=slo.window_s,
        max_breached_windows=slo.max_breached_windows,
        min_window_requests=slo.min_window_requests,
        min_throughput_ratio=slo.min_throughput_ratio,
    )


def evaluate(slo: SloFile, document: dict[str, Any]) -> Verdict:
    verdict = Verdict()
    duration = max(float(document.get("duration_s") or 1), 1.0)
    endpoints: dict[str, Any] = document.get("endpoints", {})
    for group in slo.groups:
        names = [name for name in endpoints if group.match.search(name)]
        if not names:  # nothing to judge, unless the group asks for traffic (min_rps)
            wants_traffic = "min_rps" in group.objectives
            threshold = group.objectives.get("min_rps", 0.0)
            verdict.rows.append(Row(group.name, "requests", threshold, 0, not wants_traffic, "run"))
            continue
        merged = histograms.merged(
            histograms.decode(endpoints[n]["histograms"]["corrected"]) for n in names
        )
        requests = int(merged.get_total_count())
        errors = sum(int(endpoints[n]["errors"]) for n in names)
        for objective, threshold in group.objectives.items():
            actual = _measure(objective, merged, requests, errors, duration)
            verdict.rows.append(
                Row(
                    group.name,
                    objective,
                    threshold,
                    actual,
                    _holds(objective, actual, threshold),
                    "run",
                )
            )
        verdict.rows.extend(_windows(slo, group, [endpoints[n] for n in names]))
    ratio = slo.min_throughput_ratio
    arrivals = document.get("arrivals") or {}
    if ratio is not None and arrivals.get("intended"):
        achieved = arrivals.get("completed", 0) / arrivals["intended"]
        verdict.rows.append(
            Row(
                "iterations",
                "min_throughput_ratio",
                ratio,
                round(achieved, 4),
                achieved >= ratio,
                "run",
            )
        )
    return verdict


def _measure(
    objective: str, histogram: HdrHistogram, requests: int, errors: int, seconds: float
) -> float | None:
    if objective in LATENCY_OBJECTIVES:
        return (
            histograms.percentile_ms(histogram, LATENCY_OBJECTIVES[objective]) if requests else None
        )
    if objective == "max_error_rate":
        return errors / requests if requests else 0.0
    return requests / seconds  # min_rps


def _holds(objective: str, actual: float | None, threshold: float) -> bool:
    if actual is None:
        return objective != "min_rps"
    if objective == "min_rps":
        return actual >= threshold
    return actual <= threshold


def _windows(slo: SloFile, group: Group, endpoints: list[dict[str, Any]]) -> list[Row]:
    per_second: dict[int, list[tuple[str, int]]] = {}
    for endpoint in endpoints:
        for second, bucket in endpoint.get("per_second", {}).items():
            per_second.setdefault(int(second), []).append((bucket["h"], int(bucket["e"])))
    if not per_second:
        return []
    first, last = min(per_second), max(per_second)
    decoded = {
        second: (
            histograms.merged(histograms.decode(h) for h, _ in items),
            sum(e for _, e in items),
        )
        for second, items in per_second.items()
    }
    judged = 0
    broken: dict[str, int] = {
        objective: 0 for objective in group.objectives if objective != "min_rps"
    }
    for end in range(first + slo.window_s - 1, last + 1):
        seconds = [s for s in range(end - slo.window_s + 1, end + 1) if s in decoded]
        window = histograms.merged(decoded[s][0] for s in seconds)
        requests = int(window.get_total_count())
        if requests < slo.min_window_requests:
            continue
        judged += 1
        errors = sum(decoded[s][1] for s in seconds)
        for objective in broken:
            actual = _measure(objective, window, requests, errors, slo.window_s)
            if not _holds(objective, actual, group.objectives[objective]):
                broken[objective] += 1
    if not judged:
        return []
    return [
        Row(
            group.name,
            f"{objective} per {slo.window_s}s window",
            slo.max_breached_windows,
            round(count / judged, 4),
            count / judged <= slo.max_breached_windows,
            "windows",
        )
        for objective, count in broken.items()
    ]


def dump(slo: SloFile, path: Path) -> Path:
    """Write the SLO file (as `load` reads it) to path."""
    document: dict[str, Any] = {
        "window_s": slo.window_s,
        "max_breached_windows": slo.max_breached_windows,
        "min_window_requests": slo.min_window_requests,
        "groups": [{"name": g.name, "match": g.match.pattern, **g.objectives} for g in slo.groups],
    }
    if slo.min_throughput_ratio is not None:
        document["min_throughput_ratio"] = slo.min_throughput_ratio
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path
