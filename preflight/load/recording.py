"""What a load generator records, per request name: latency from the intended start (corrected
for coordinated omission) and from the actual send (uncorrected) in HDR histograms, per second
as well as in total, with errors; and the arrivals of the open model. A worker records into a
Recording and ships its deltas (`take`) to the master, which merges them (`merge`) into one."""

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

from preflight.load import histograms


class Series:
    """One request name: totals and per-second buckets (keyed by whole Unix seconds, so the
    buckets of generators on different hosts line up as their clocks do).

    A request only bumps a counter of its latency rounded to 8 significant bits (0.4 %); the
    counts go into the HDR histograms once per flush (`settle`), which keeps recording far
    cheaper than the request it measures."""

    def __init__(self) -> None:
        self.corrected: HdrHistogram = histograms.new()
        self.uncorrected: HdrHistogram = histograms.new()
        self.per_second: dict[int, HdrHistogram] = {}
        self.errors = 0
        self.errors_per_second: dict[int, int] = defaultdict(int)
        self._corrected: dict[int, dict[int, int]] = {}
        self._uncorrected: dict[int, int] = {}

    def record(self, second: int, response_us: int, corrected_us: int, failed: bool) -> None:
        counts = self._corrected.get(second)
        if counts is None:
            counts = self._corrected[second] = {}
        key = _rounded(response_us)
        self._uncorrected[key] = self._uncorrected.get(key, 0) + 1
        if corrected_us != response_us:  # a late start; on time, both are the same
            key = _rounded(corrected_us)
        counts[key] = counts.get(key, 0) + 1
        if failed:
            self.errors += 1
            self.errors_per_second[second] += 1

    def settle(self) -> None:
        for second, counts in self._corrected.items():
            bucket = self.per_second.get(second)
            if bucket is None:
                bucket = self.per_second[second] = histograms.new()
            for value, count in counts.items():
                bucket.record_value(value, count)
                self.corrected.record_value(value, count)
        for value, count in self._uncorrected.items():
            self.uncorrected.record_value(value, count)
        self._corrected, self._uncorrected = {}, {}


_LOWEST_US, _HIGHEST_US = histograms.LOWEST_US, histograms.HIGHEST_US


def _rounded(microseconds: int) -> int:
    """The value to 8 significant bits (the middle of its bucket): once per request, so no
    min/max calls, and values under 256 are exact already."""
    if microseconds < 256:
        return microseconds if microseconds >= _LOWEST_US else _LOWEST_US
    if microseconds > _HIGHEST_US:
        microseconds = _HIGHEST_US
    shift = microseconds.bit_length() - 8
    return (microseconds >> shift << shift) | (1 << shift >> 1)


@dataclass
class Arrivals:
    intended: int = 0
    started: int = 0
    late: int = 0
    dropped: int = 0
    completed: int = 0

    def add(self, other: "Arrivals") -> None:
        self.intended += other.intended
        self.started += other.started
        self.late += other.late
        self.dropped += other.dropped
        self.completed += other.completed


class Recording:
    """Not locked: the generators run on gevent, one greenlet at a time, and nothing here
    yields."""

    def __init__(self, started_at: float) -> None:
        self.started_at = started_at
        self.series: dict[str, Series] = {}
        self.arrivals = Arrivals()
        self.generators: dict[str, list[dict[str, float]]] = defaultdict(list)

    def request(
        self, name: str, at: float, response_ms: float, lateness_ms: float, failed: bool
    ) -> None:
        series = self.series.get(name)
        if series is None:
            series = self.series[name] = Series()
        response_us = int(response_ms * 1000)
        corrected_us = response_us + int(lateness_ms * 1000) if lateness_ms > 0 else response_us
        series.record(int(at), response_us, corrected_us, failed)

    def arrival(self, outcome: str) -> None:
        """Count one arrival outcome: intended, started, late, dropped or completed."""
        setattr(self.arrivals, outcome, getattr(self.arrivals, outcome) + 1)

    def settle(self) -> None:
        for series in self.series.values():
            series.settle()

    def take(self) -> dict[str, Any]:
        """The recording so far as a message, and start afresh (a worker's delta)."""
        self.settle()
        series, self.series = self.series, {}
        arrivals, self.arrivals = self.arrivals, Arrivals()
        generators, self.generators = self.generators, defaultdict(list)
        return {
            "series": {
                name: {
                    "corrected": histograms.encode(s.corrected),
                    "uncorrected": histograms.encode(s.uncorrected),
                    "errors": s.errors,
                    "per_second": {str(k): histograms.encode(v) for k, v in s.per_second.items()},
                    "errors_per_second": {str(k): v for k, v in s.errors_per_second.items()},
                }
                for name, s in series.items()
            },
            "arrivals": vars(arrivals),
            "generators": dict(generators),
        }

    def merge(self, message: dict[str, Any]) -> None:
        """Add a worker's delta (from `take`)."""
        for name, data in message["series"].items():
            series = self.series.get(name)
            if series is None:
                series = self.series[name] = Series()
            series.corrected.add(histograms.decode(data["corrected"]))
            series.uncorrected.add(histograms.decode(data["uncorrected"]))
            series.errors += int(data["errors"])
            for key, encoded in data["per_second"].items():
                second = int(key)
                bucket = series.per_second.get(second)
                if bucket is None:
                    bucket = series.per_second[second] = histograms.new()
                bucket.add(histograms.decode(encoded))
            for key, errors in data["errors_per_second"].items():
                series.errors_per_second[int(key)] += int(errors)
        self.arrivals.add(Arrivals(**message["arrivals"]))
        for worker, samples in message.get("generators", {}).items():
            self.generators[worker].extend(samples)
