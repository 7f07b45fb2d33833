"""The outbox relay: publishes outbox rows to a Redis Stream in commit order, at least once.

Each batch runs in one transaction that holds an advisory lock (so a second relay waits instead of
interleaving), reads the oldest unpublished rows in id (= commit) order, appends them to the
stream in one pipeline and marks them published. A crash between the append and the commit
publishes the batch again: consumers deduplicate by event id.

Redis may restart and lose entries its log had not yet written. Whenever the relay connects to a
Redis server it has not seen (a new `run_id`) it reads the `sequence` of the stream's last entry
and marks the rows after it that were published in the last `republish_window_s` unpublished
again, so nothing committed is missing from the stream. (The window keeps a relay that starts
next to an empty stream from republishing history, such as rows loaded by `preflight seed`.)
"""

import asyncio
import logging
import time
from dataclasses import dataclass

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from reference_services.platform.events import STREAM_FIELD, Envelope

log = logging.getLogger(__name__)

RELAY_LOCK = 0x72656C6179  # "relay"
_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)").bindparams(key=RELAY_LOCK)
_BATCH = text(
    "SELECT id, event_id, event_type, aggregate_id, payload, traceparent, occurred_at"
    " FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT :limit"
)
_MARK = text("UPDATE outbox SET published_at = now() WHERE id = ANY(:ids)")
_LAG = text(
    "SELECT count(*), coalesce(extract(epoch FROM now() - min(occurred_at)), 0)"
    " FROM outbox WHERE published_at IS NULL"
)
_REPUBLISH = text(
    "UPDATE outbox SET published_at = NULL WHERE id > :after AND published_at IS NOT NULL"
    " AND published_at > now() - make_interval(secs => :window)"
)


@dataclass(frozen=True)
class RelayConfig:
    stream: str
    source: str
    batch_size: int = 500
    poll_interval_s: float = 0.02
    stream_maxlen: int = 1_000_000
    lag_interval_s: float = 1.0
    retry_backoff_s: float = 0.5
    republish_window_s: float = 300.0


class RelayMetrics:
    def __init__(self, registry: CollectorRegistry, stream: str) -> None:
        self.published = Counter(
            "outbox_published_events_total",
            "Outbox rows appended to the stream (a republished row counts again).",
            ["stream"],
            registry=registry,
        ).labels(stream)
        self.errors = Counter(
            "outbox_relay_errors_total",
            "Relay batches that failed, by the side that failed.",
            ["stream", "side"],
            registry=registry,
        )
        self.unpublished = Gauge(
            "outbox_unpublished_events",
            "Committed outbox rows not yet on the stream.",
            ["stream"],
            registry=registry,
        ).labels(stream)
        self.lag = Gauge(
            "outbox_lag_seconds",
            "Age of the oldest committed outbox row not yet on the stream (0: none waiting).",
            ["stream"],
            registry=registry,
        ).labels(stream)
        self.republished = Counter(
            "outbox_republished_events_total",
            "Rows marked unpublished again because a restarted Redis had lost them.",
            ["stream"],
            registry=registry,
        ).labels(stream)


class OutboxRelay:
    def __init__(
        self, engine: AsyncEngine, redis: Redis, config: RelayConfig, metrics: RelayMetrics
    ) -> None:
        self.engine = engine
        self.redis = redis
        self.config = config
        self.metrics = metrics
        self.redis_run_id: str | None = None
        self._lag_measured_at = 0.0

    async def run(self) -> None:
        """Publish until cancelled; failures of either side are logged and retried."""
        while True:
            try:
                published = await self.publish_batch()
            except RedisError as error:
                self.metrics.errors.labels(self.config.stream, "redis").inc()
                self.redis_run_id = None
                log.warning("relay: redis failed: %s", error)
                await asyncio.sleep(self.config.retry_backoff_s)
                continue
            except (OperationalError, DBAPIError, OSError) as error:
                self.metrics.errors.labels(self.config.stream, "database").inc()
                log.warning("relay: database failed: %s", error)
                await asyncio.sleep(self.config.retry_backoff_s)
                continue
            await self.measure_lag()
            if published < self.config.batch_size:
                await asyncio.sleep(self.config.poll_interval_s)

    async def publish_batch(self) -> int:
        """Publish the oldest unpublished rows (at most one batch); returns how many."""
        await self.follow_redis_restarts()
        async with self.engine.begin() as conn:
            if not (await conn.execute(_LOCK)).scalar_one():
                return 0
            rows = (await conn.execute(_BATCH, {"limit": self.config.batch_size})).all()
            if not rows:
                return 0
            pipe = self.redis.pipeline(transaction=False)
            for row in rows:
                envelope = Envelope(
                    id=row.event_id,
                    type=row.event_type,
                    source=self.config.source,
                    time=row.occurred_at,
                    subject=row.aggregate_id,
                    sequence=row.id,
                    data=row.payload,
                    traceparent=row.traceparent,
                )
                pipe.xadd(
                    self.config.stream,
                    envelope.fields(),  # type: ignore[arg-type]
                    maxlen=self.config.stream_maxlen,
                    approximate=True,
                )
            await pipe.execute()
            await conn.execute(_MARK, {"ids": [row.id for row in rows]})
        self.metrics.published.inc(len(rows))
        return len(rows)

    async def follow_redis_restarts(self) -> None:
        server: dict[str, object] = await self.redis.info("server")
        run_id = str(server["run_id"])
        if run_id == self.redis_run_id:
            return
        last = await self.last_published_sequence()
        async with self.engine.begin() as conn:
            await conn.execute(_LOCK)
            window = self.config.republish_window_s
            republished = (
                await conn.execute(_REPUBLISH, {"after": last, "window": window})
            ).rowcount
        if republished:
            log.warning(
                "relay: %s lost entries after sequence %d; publishing %d rows again",
                self.config.stream,
                last,
                republished,
            )
            self.metrics.republished.inc(republished)
        self.redis_run_id = run_id

    async def last_published_sequence(self) -> int:
        entries = await self.redis.xrevrange(self.config.stream, count=1)
        if not entries:
            return 0
        _, fields = entries[0]
        raw = fields.get(STREAM_FIELD) if fields else None
        return int(orjson.loads(raw).get("sequence", 0)) if raw else 0

    async def measure_lag(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._lag_measured_at < self.config.lag_interval_s:
            return
        self._lag_measured_at = now
        async with self.engine.connect() as conn:
            await self._record_lag(conn)

    async def _record_lag(self, conn: AsyncConnection) -> None:
        count, age = (await conn.execute(_LAG)).one()
        self.metrics.unpublished.set(count)
        self.metrics.lag.set(float(age))
