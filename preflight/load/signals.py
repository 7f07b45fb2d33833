"""Server-side signals during a load step: what the target itself says while it is loaded.

A `SignalSampler` runs beside a step and, every `interval_s`, reads each service's Prometheus
endpoint (/metrics: DB pool in use and its size, replica lag, cache hits and misses, outbox lag,
stream consumer lag, requests served), the service processes' CPU when they run on this machine
(the embedded stack's manifest has their pids), and, when the target gives a DSN, PostgreSQL
itself (pg_stat_activity connections, the replica's replay lag). `summary()` folds the samples
into one number per signal for the step: peaks for levels and lags, rates and ratios from
counter deltas, the mean for CPU.

With local services, "host" `cpu_percent` is the whole machine's (all cores: 100 is every core
busy), which names the bottleneck when the generator and the services share a busy machine.

`bottleneck` names the signal closest to its saturation at the step where the SLOs broke: pool
utilisation and CPU against 100 %, lags against a level that means trouble. A signal that cannot
be read (no /metrics, no DSN, a remote service) is simply absent, never guessed.

`prometheus_series` takes the same kind of signals over a run's whole time range from a
Prometheus that scraped the target (`preflight stack up --with-prometheus`), for the reports of
`load run` and `load capacity`.
"""

import statistics
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from preflight.prometheus import PrometheusApi
from preflight.targets import Target

PROMETHEUS_QUERIES = {
    "request_rate": "sum by (job) (rate(http_requests_total[10s]))",
    "p99_seconds": "histogram_quantile(0.99, sum by (job, le) "
    "(rate(http_request_duration_seconds_bucket[10s])))",
    "db_pool_in_use": "sum by (job) (db_pool_connections_in_use)",
    "replica_lag_seconds": "max by (job) (db_replica_lag_seconds)",
    "outbox_lag_seconds": "max by (job) (outbox_lag_seconds)",
    "consumer_lag_events": "max by (job) (stream_consumer_lag_events)",
    "cache_hit_ratio": 'sum by (job) (rate(cache_requests_total{result="hit"}[10s])) / '
    "sum by (job) (rate(cache_requests_total[10s]))",
}
"""The server-side series a report takes from a Prometheus that scraped the stack."""
SAMPLE_INTERVAL_S = 2.0
SATURATION = {
    "db_pool_utilisation": 1.0,
    "cpu_percent": 100.0,
    "replica_lag_s": 1.0,
    "pg_replica_replay_lag_s": 1.0,
    "outbox_lag_s": 1.0,
    "consumer_lag_events": 200.0,
}
"""The level at which a signal means the service is saturated (CPU: one core of a process)."""


@dataclass
class _Sample:
    at: float
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    """service -> signal -> value (counters as read, levels as read)."""


def parse_metrics(text: str) -> dict[str, float]:
    """The signals of one /metrics page, summed over label sets (pools, consumers, ...)."""
    found: dict[str, float] = {}
    maxima = {"db_replica_lag_seconds", "outbox_lag_seconds", "stream_consumer_lag_events"}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, value = sample.name, float(sample.value)
            key = {
                "db_pool_connections_in_use": "db_pool_in_use",
                "db_pool_connections_max": "db_pool_max",
                "db_replica_lag_seconds": "replica_lag_s",
                "outbox_lag_seconds": "outbox_lag_s",
                "outbox_unpublished_events": "outbox_unpublished",
                "stream_consumer_lag_events": "consumer_lag_events",
                "http_requests_total": "requests_total",
            }.get(name)
            if name == "cache_requests_total":
                key = f"cache_{sample.labels.get('result', 'other')}_total"
            if name == "db_pool_connections_in_use":  # each pool has db_pool_connections_max
                found["db_pool_busiest"] = max(found.get("db_pool_busiest", 0.0), value)
            if key is None:
                continue
            if name in maxima:
                found[key] = max(found.get(key, 0.0), value)
            else:
                found[key] = found.get(key, 0.0) + value
    return found


class SignalSampler:
    def __init__(
        self,
        target: Target | None,
        *,
        interval_s: float = SAMPLE_INTERVAL_S,
        processes: dict[str, psutil.Process] | None = None,
    ) -> None:
        self.services = dict(target.services) if target is not None else {}
        self.headers = dict(target.headers) if target is not None else {}
        self.dsn = _primary_dsn(target)
        self.replica_dsn = _replica_dsn(target)
        self.processes = processes if processes is not None else local_processes(target)
        self.interval_s = interval_s
        self.samples: list[_Sample] = []
        self.cpu: dict[str, list[float]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "SignalSampler":
        for process in self.processes.values():
            _cpu(process)  # psutil's first reading only starts the interval
        psutil.cpu_percent(None)
        self._thread = threading.Thread(target=self._loop, name="signals", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sample()

    def _loop(self) -> None:
        self._sample()
        while not self._stop.wait(self.interval_s):
            self._sample()

    def _sample(self) -> None:
        sample = _Sample(at=time.monotonic())
        with httpx.Client(timeout=2.0, headers=self.headers) as client:
            for service, url in sorted(self.services.items()):
                try:
                    response = client.get(f"{url}/metrics")
                except httpx.HTTPError:
                    continue
                if response.status_code == 200:
                    sample.metrics[service] = parse_metrics(response.text)
        for service, process in self.processes.items():
            value = _cpu(process)
            if value is not None:
                self.cpu.setdefault(service, []).append(value)
        if self.processes:  # the target runs here: the machine's CPU is one of its resources
            self.cpu.setdefault("host", []).append(psutil.cpu_percent(None))
        database = _database_signals(self.dsn, self.replica_dsn)
        if database:
            sample.metrics["postgres"] = database
        self.samples.append(sample)

    def summary(self) -> dict[str, dict[str, float]]:
        """service -> signal -> one value for the step."""
        result: dict[str, dict[str, float]] = {}
        if len(self.samples) >= 1:
            first, last = self.samples[0], self.samples[-1]
            elapsed = max(last.at - first.at, 1e-9)
            services = {s for sample in self.samples for s in sample.metrics}
            for service in sorted(services):
                seen = [s.metrics[service] for s in self.samples if service in s.metrics]
                out: dict[str, float] = {}
                for key in (
                    "db_pool_in_use",
                    "db_pool_busiest",
                    "replica_lag_s",
                    "outbox_lag_s",
                    "outbox_unpublished",
                    "consumer_lag_events",
                    "pg_connections",
                    "pg_replica_replay_lag_s",
                ):
                    values = [m[key] for m in seen if key in m]
                    if values:
                        out[key] = max(values)
                pool_max = max((m.get("db_pool_max", 0.0) for m in seen), default=0.0)
                busiest = out.pop("db_pool_busiest", None)
                if busiest is not None and pool_max > 0:
                    out["db_pool_utilisation"] = round(busiest / pool_max, 3)
                begin = first.metrics.get(service, {})
                end = last.metrics.get(service, {})
                if "requests_total" in begin and "requests_total" in end and len(seen) > 1:
                    out["request_rate"] = round(
                        (end["requests_total"] - begin["requests_total"]) / elapsed, 1
                    )
                hits = end.get("cache_hit_total", 0.0) - begin.get("cache_hit_total", 0.0)
                misses = end.get("cache_miss_total", 0.0) - begin.get("cache_miss_total", 0.0)
                if hits + misses > 0:
                    out["cache_hit_ratio"] = round(hits / (hits + misses), 3)
                if out:
                    result[service] = out
        for service, values in self.cpu.items():
            if values:
                result.setdefault(service, {})["cpu_percent"] = round(statistics.fmean(values), 1)
        return result


def bottleneck(
    breaking: dict[str, dict[str, float]], before: dict[str, dict[str, float]] | None = None
) -> dict[str, Any] | None:
    """The signal nearest its saturation at the breaking step (ties: the one that grew most
    since the step before), or None when no signal was read."""
    candidates = []
    for service, signals in breaking.items():
        for signal, level in SATURATION.items():
            if signal not in signals:
                continue
            value = signals[signal]
            previous = ((before or {}).get(service) or {}).get(signal)
            growth = value - previous if previous is not None else 0.0
            candidates.append((value / level, growth / level, service, signal, value, previous))
    if not candidates:
        return None
    score, _, service, signal, value, previous = max(candidates)
    return {
        "service": service,
        "signal": signal,
        "value": value,
        "previous": previous,
        "saturation": round(score, 3),
        "text": f"{service} {signal} {value:g}"
        + (f" (was {previous:g})" if previous is not None else "")
        + f": {score:.0%} of saturation",
    }


def local_processes(target: Target | None) -> dict[str, psutil.Process]:
    """The service processes of an embedded stack (from its manifest), by service name."""
    if target is None or not target.stack_dir:
        return {}
    from pathlib import Path

    from preflight import stack

    manifest = stack.read_manifest(stack.StatePaths(Path(target.stack_dir)))
    if manifest is None:
        return {}
    found = {}
    for record in manifest.processes:
        if record.name.startswith("service:"):
            process = record.find()
            if process is not None:
                found[record.name.removeprefix("service:")] = process
    return found


def _cpu(process: psutil.Process) -> float | None:
    try:
        return float(
            process.cpu_percent(None)
            + sum(c.cpu_percent(None) for c in _children(process.children(recursive=True)))
        )
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _children(children: Iterable[psutil.Process]) -> list[psutil.Process]:
    return [c for c in children if c.is_running()]


def _primary_dsn(target: Target | None) -> str | None:
    if target is None:
        return None
    for dsns in target.databases.values():
        return dsns.primary
    return None


def _replica_dsn(target: Target | None) -> str | None:
    if target is None:
        return None
    for dsns in target.databases.values():
        if dsns.replica:
            return dsns.replica
    return None


def _database_signals(dsn: str | None, replica_dsn: str | None) -> dict[str, float]:
    import psycopg

    found: dict[str, float] = {}
    if dsn:
        try:
            with psycopg.connect(dsn, connect_timeout=2) as connection:
                row = connection.execute("SELECT count(*) FROM pg_stat_activity").fetchone()
                if row is not None:
                    found["pg_connections"] = float(row[0])
        except psycopg.Error:
            pass
    if replica_dsn:
        try:
            with psycopg.connect(replica_dsn, connect_timeout=2) as connection:
                row = connection.execute(
                    "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
                    " ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END"
                ).fetchone()
                if row is not None and row[0] is not None:
                    found["pg_replica_replay_lag_s"] = float(row[0])
        except psycopg.Error:
            pass
    return found


def prometheus_series(url: str, started: datetime, finished: datetime) -> dict[str, Any]:
    """The server-side series of the run's time range, from the Prometheus API (or why not)."""
    api = PrometheusApi(url)
    series: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, expr in PROMETHEUS_QUERIES.items():
        try:
            series[name] = [
                {
                    "labels": item["metric"],
                    "values": [[float(t), float(v)] for t, v in item["values"] if v != "NaN"],
                }
                for item in api.query_range(
                    expr, started.timestamp(), finished.timestamp() + 2, step_s=2
                )
            ]
        except Exception as error:  # Prometheus gone or a query it rejects: say so, go on
            errors[name] = str(error)
    return {"url": url, "series": series, "errors": errors}
