"""Metrics of a service's resources: database connections in use, replica lag, cache hits.

Pool usage and cache counts are read when Prometheus scrapes (a collector, nothing on the
request path); the replica's lag needs a query, so a background task samples it.
"""

import asyncio
import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from reference_services.platform.cache import VersionedCache
from reference_services.platform.db import Database

log = logging.getLogger(__name__)

REPLICA_LAG_INTERVAL_S = 1.0


class ResourceCollector(Collector):
    def __init__(self, service: str, db: Database, cache: VersionedCache) -> None:
        self.service = service
        self.db = db
        self.cache = cache

    def collect(self) -> Iterator[Metric]:
        in_use = GaugeMetricFamily(
            "db_pool_connections_in_use",
            "Database connections checked out of the service's pools, by role and pool.",
            labels=["service", "role", "pool"],
        )
        for (role, pool), count in sorted(self.db.connections_in_use().items()):
            in_use.add_metric([self.service, role, pool], count)
        yield in_use
        limit = GaugeMetricFamily(
            "db_pool_connections_max",
            "Connections each of the service's pools may open.",
            labels=["service"],
        )
        limit.add_metric([self.service], self.db.pool_size)
        yield limit
        cache = CounterMetricFamily(
            "cache_requests",
            "Cache lookups by result (hit: served from Redis; miss: read from the database).",
            labels=["service", "result"],
        )
        cache.add_metric([self.service, "hit"], self.cache.hits)
        cache.add_metric([self.service, "miss"], self.cache.misses)
        yield cache


class ReplicaLag:
    def __init__(self, service: str, db: Database, registry: CollectorRegistry) -> None:
        self.db = db
        self.seconds = Gauge(
            "db_replica_lag_seconds",
            "Time since the last transaction the replica replayed, while it is behind (0: caught"
            " up).",
            ["service"],
            registry=registry,
        ).labels(service)
        self.bytes = Gauge(
            "db_replica_lag_bytes",
            "WAL the primary wrote that the replica has not replayed yet.",
            ["service"],
            registry=registry,
        ).labels(service)

    async def run(self) -> None:
        while True:
            try:
                lag = await self.db.replica_lag()
            except Exception as error:  # a replica that is down: the health check reports it
                log.debug("replica lag not sampled: %s", error)
            else:
                if lag is None:
                    return
                self.seconds.set(lag[0])
                self.bytes.set(lag[1])
            await asyncio.sleep(REPLICA_LAG_INTERVAL_S)


def instrument_resources(
    service: str, db: Database, cache: VersionedCache, registry: CollectorRegistry
) -> ReplicaLag:
    registry.register(ResourceCollector(service, db, cache))
    return ReplicaLag(service, db, registry)
