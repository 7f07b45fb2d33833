"""Reading a running Locust's live feed (open_model's `--preflight-live` JSON lines) into
results-shaped documents of any time window, so a capacity step is judged by the same code
(preflight.load.slo, steady) as a whole run, while the run goes on.

    feed = LiveFeed(path)
    feed.read()                          # takes in what was appended since the last read
    document = feed.window(t0, t1)       # endpoints with per-second buckets in [t0, t1)
"""

import json
from pathlib import Path
from typing import Any

from preflight.load import results


class LiveFeed:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = ""
        self.buckets: dict[tuple[str, int], tuple[str, int]] = {}
        """(request name, second) -> (encoded HDR, errors): the latest line of each wins."""
        self.counts: dict[tuple[str, int], int] = {}
        self.arrivals: list[tuple[float, dict[str, int]]] = []
        self.generators: list[tuple[str, dict[str, float]]] = []

    def read(self) -> None:
        try:
            with self.path.open() as feed:
                feed.seek(self._offset)
                chunk = feed.read()
                self._offset = feed.tell()
        except OSError:
            return
        text = self._partial + chunk
        lines = text.split("\n")
        self._partial = lines.pop()  # an unfinished last line waits for the next read
        for line in lines:
            if not line.strip():
                continue
            item = json.loads(line)
            if "s" in item:
                key = (item["n"], int(item["s"]))
                self.buckets[key] = (item["h"], int(item["e"]))
                self.counts[key] = int(item.get("c", 0))
            elif "g" in item:
                worker = item.pop("g")
                self.generators.append((worker, item))
            elif "arrivals" in item:
                self.arrivals.append((float(item["t"]), item["arrivals"]))

    def requests_per_iteration(self) -> float:
        """Requests an iteration sends, over the whole run so far (a property of the scenario:
        one window's counters and buckets are cut at different instants)."""
        started = int(self.arrivals[-1][1].get("started", 0)) if self.arrivals else 0
        requests = sum(self.counts.values())
        return requests / started if started and requests else 1.0

    def latest_second(self) -> int | None:
        return max((second for _, second in self.buckets), default=None)

    def window(self, start: float, end: float) -> dict[str, Any]:
        """The seconds in [start, end) as a results document (per-second buckets only)."""
        first, last = int(start), int(end)
        endpoints: dict[str, Any] = {}
        for (name, second), (encoded, errors) in sorted(self.buckets.items()):
            if first <= second < last:
                endpoint = endpoints.setdefault(name, {"per_second": {}})
                endpoint["per_second"][str(second)] = {"h": encoded, "e": errors}
        arrivals = self._arrivals_between(start, end)
        samples: dict[str, list[dict[str, float]]] = {}
        for worker, sample in self.generators:
            if start <= sample.get("t", 0.0) < end:
                samples.setdefault(worker, []).append(sample)
        return {
            "endpoints": endpoints,
            "arrivals": arrivals,
            "generator": results.generator_health(samples, arrivals),
        }

    def _arrivals_between(self, start: float, end: float) -> dict[str, int]:
        before = [counts for t, counts in self.arrivals if t <= start]
        until = [counts for t, counts in self.arrivals if t <= end]
        if not until:
            return {}
        base = before[-1] if before else {k: 0 for k in until[-1]}
        return {k: int(until[-1][k]) - int(base.get(k, 0)) for k in until[-1]}
