"""A capacity result against a baseline (an earlier capacity.json): regression, improvement, or
no change beyond the noise.

A capacity search answers with a band, [last passing rate, first failing rate]; two runs of
the same build land in overlapping bands give or take the machine's noise. So capacity only
regressed when the new band's top lies below the baseline band's bottom by more than
`capacity_tolerance` (default 15 %), and only improved when the new band's bottom lies above
the baseline band's top by as much. A search that found no rate at all (SLOs broken at the
lowest rate) against a baseline that had one is a regression; an invalid run compares with
nothing.

Per-endpoint latency is compared at the lowest rate that held every SLO in both runs (the
searches' steps are deterministic given their verdicts, so two runs of the same settings share
rates; a search's first step is also its coldest, which is why it is not simply the first):
p95 regressed when it grew by more than `latency_tolerance` (default 50 %) and by more than
`latency_floor_ms` (default 10 ms), so that 2 ms becoming 4 ms on a noisy machine is not news.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Outcome = Literal["regression", "improvement", "unchanged", "not comparable"]


class BaselineError(ValueError):
    """The baseline file cannot be read or is not a capacity result."""


@dataclass(frozen=True)
class Tolerances:
    capacity: float = 0.15
    latency: float = 0.5
    latency_floor_ms: float = 10.0


@dataclass
class Row:
    what: str
    baseline: str
    current: str
    outcome: Outcome
    note: str = ""


@dataclass
class Comparison:
    rows: list[Row] = field(default_factory=list)

    @property
    def outcome(self) -> Outcome:
        outcomes = {row.outcome for row in self.rows}
        worst: Outcome
        for worst in ("regression", "improvement", "unchanged"):
            if worst in outcomes:
                return worst
        return "not comparable"

    @property
    def regressions(self) -> list[Row]:
        return [row for row in self.rows if row.outcome == "regression"]

    def to_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "rows": [vars(row) for row in self.rows]}


def load(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except OSError as error:
        raise BaselineError(f"cannot read baseline {path}: {error.strerror}") from None
    except ValueError as error:
        raise BaselineError(f"baseline {path} is not JSON: {error}") from None
    if not isinstance(document, dict) or document.get("kind") != "capacity":
        raise BaselineError(f"baseline {path} is not a capacity result (capacity.json)")
    return document


def save(document: dict[str, Any], path: Path) -> Path:
    """A capacity result as a baseline: everything but the bulky server-side series."""
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = {k: v for k, v in document.items() if k not in ("prometheus", "baseline")}
    path.write_text(json.dumps(kept, indent=1))
    return path


def compare(
    current: dict[str, Any], baseline: dict[str, Any], tolerances: Tolerances = Tolerances()
) -> Comparison:
    comparison = Comparison()
    comparison.rows.append(_capacity(current, baseline, tolerances.capacity))
    comparison.rows.extend(_latencies(current, baseline, tolerances))
    return comparison


def _band(document: dict[str, Any]) -> tuple[float | None, float | None]:
    band = document.get("band") or {}
    low = band.get("low") if document.get("status") in ("converged", "budget") else None
    high = band.get("high")
    if document.get("status") == "no_breach":
        low, high = band.get("low"), None
    return low, high


def _text(document: dict[str, Any]) -> str:
    low, high = _band(document)
    status = document.get("status")
    if status in ("invalid", "too_slow"):
        return str(status)
    return f"{low if low is not None else '?'}-{high if high is not None else '>'}/s"


def _capacity(current: dict[str, Any], baseline: dict[str, Any], tolerance: float) -> Row:
    what = "max sustainable rate"
    now_low, now_high = _band(current)
    base_low, base_high = _band(baseline)
    texts = (_text(baseline), _text(current))
    if current.get("status") == "invalid" or baseline.get("status") == "invalid":
        return Row(what, *texts, "not comparable", "a run was invalid (generator saturated)")
    if current.get("status") == "too_slow":
        if base_low is not None:
            return Row(what, *texts, "regression", "SLOs now break at the lowest rate")
        return Row(what, *texts, "not comparable", "neither run sustained any rate")
    if base_low is None:
        return Row(what, *texts, "not comparable", "the baseline sustained no rate")
    if now_high is not None and now_high < base_low * (1 - tolerance):
        drop = 1 - now_high / base_low
        return Row(
            what, *texts, "regression", f"top of the new band {drop:.0%} below the baseline's"
        )
    if now_low is not None and base_high is not None and now_low > base_high * (1 + tolerance):
        gain = now_low / base_high - 1
        return Row(
            what, *texts, "improvement", f"bottom of the new band {gain:.0%} above the baseline's"
        )
    return Row(what, *texts, "unchanged", f"bands within {tolerance:.0%}")


def _held(document: dict[str, Any]) -> dict[float, dict[str, Any]]:
    """Per-endpoint latencies of the steps that held every SLO, by rate."""
    return {
        float(step["rate"]): step["endpoints"]
        for step in document.get("steps") or []
        if step.get("verdict") == "pass" and step.get("endpoints")
    }


def _latencies(
    current: dict[str, Any], baseline: dict[str, Any], tolerances: Tolerances
) -> list[Row]:
    held_now, held_before = _held(current), _held(baseline)
    if not held_now or not held_before:
        return []
    common = sorted(set(held_now) & set(held_before))
    if not common:
        return [
            Row(
                "latency (p95)",
                f"held at {', '.join(f'{r:g}' for r in sorted(held_before))}/s",
                f"held at {', '.join(f'{r:g}' for r in sorted(held_now))}/s",
                "not comparable",
                "no rate held in both runs",
            )
        ]
    rate = common[0]
    now, before = held_now[rate], held_before[rate]
    rows = []
    for name in sorted(set(now) & set(before)):
        new_p95 = now[name].get("p95")
        old_p95 = before[name].get("p95")
        if new_p95 is None or old_p95 is None:
            continue
        what = f"{name} p95 at {rate:g}/s"
        texts = (f"{old_p95:g} ms", f"{new_p95:g} ms")
        grew = new_p95 - old_p95
        if grew > tolerances.latency_floor_ms and new_p95 > old_p95 * (1 + tolerances.latency):
            rows.append(Row(what, *texts, "regression", f"+{grew:.0f} ms"))
        elif -grew > tolerances.latency_floor_ms and old_p95 > new_p95 * (1 + tolerances.latency):
            rows.append(Row(what, *texts, "improvement", f"{grew:.0f} ms"))
        else:
            rows.append(Row(what, *texts, "unchanged"))
    return rows
