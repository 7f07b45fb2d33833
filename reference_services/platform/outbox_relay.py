"""The outbox relay: publishes outbox rows to a Redis Stream in commit order, at least once.

Each batch runs in one transaction that holds an advisory lock (so a second relay waits instead of
interleaving), reads the oldest unpublished rows in id (= commit) order, appends them to the
stream in one pipeline and marks them published. A crash between the append and the commit
publishes the batch again: consumers deduplicate by event id.

Redis may restart and lose entries its log had not yet written. Whenever the relay meets a Redis
server it has not seen (a new `run_id`: a restart, or the relay's own start) it compares the rows
published in the last `republish_window_s` with the sequences still on the stream and marks the
missing ones unpublished again, so nothing committed is missing from the stream (those come
after newer entries: consumers order by `sequence`/version, not by arrival). The window bounds the
scan and keeps a relay that starts next to an empty stream from republishing history, such as
rows loaded by `preflight seed`.
"""

import asyncio
import logging
import time
from dataclasses import dataclass

import orjson
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind
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
_WAIT_LOCK = text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=RELAY_LOCK)
_RECENTLY_PUBLISHED = text(
    "SELECT id FROM outbox WHERE published_at > now() - make_interval(secs => :window)"
)
_REPUBLISH = text("UPDATE outbox SET published_at = NULL WHERE id = ANY(:ids)")


@dataclass(frozen=True)
class RelayConfig:
    stream: str
    source: str
    batch_size: int = 500
    poll_interval_s: float = 0.02
    max_idle_poll_s: float = 0.2
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
        idle = self.config.poll_interval_s
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
            if published == self.config.batch_size:
                idle = self.config.poll_interval_s
                continue
            # Poll often while events flow, back off (to max_idle_poll_s) while none do.
            idle = (
                self.config.poll_interval_s
                if published
                else min(idle * 2, self.config.max_idle_poll_s)
            )
            await asyncio.sleep(idle)

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
            tracer = trace.get_tracer(__name__)
            for row in rows:
                if row.traceparent:  # the publication joins the trace of the change it carries
                    parent = propagate.extract({"traceparent": row.traceparent})
                    tracer.start_span(
                        f"{self.config.stream} publish",
                        context=parent,
                        kind=SpanKind.PRODUCER,
                        attributes={
                            "messaging.system": "redis",
                            "messaging.destination.name": self.config.stream,
                            "messaging.message.id": str(row.event_id),
                            "event.type": row.event_type,
                        },
                    ).end()
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
        """On a Redis server not seen before (a restart, or this relay's start), publish again the
        recently published rows the stream no longer has."""
        server: dict[str, object] = await self.redis.info("server")
        run_id = str(server["run_id"])
        if run_id == self.redis_run_id:
            return
        async with self.engine.begin() as conn:
            await conn.execute(_WAIT_LOCK)
            window = {"window": self.config.republish_window_s}
            recent = [row.id for row in await conn.execute(_RECENTLY_PUBLISHED, window)]
            missing = sorted(
                set(recent) - await self.sequences_on_stream(down_to=min(recent, default=0))
            )
            if missing:
                await conn.execute(_REPUBLISH, {"ids": missing})
        if missing:
            log.warning(
                "relay: %s lacks %d recently published rows (a Redis restart lost them); "
                "publishing them again",
                self.config.stream,
                len(missing),
            )
            self.metrics.republished.inc(len(missing))
        self.redis_run_id = run_id

    async def sequences_on_stream(self, *, down_to: int, page: int = 1000) -> set[int]:
        """The sequences of the stream's entries, read from the newest back to `down_to`."""
        found: set[int] = set()
        newest = "+"
        while down_to:
            entries: list[tuple[bytes, dict[bytes, bytes]]] = await self.redis.xrevrange(  # type: ignore[assignment]
                self.config.stream, max=newest, count=page
            )
            for _, fields in entries:
                raw = fields.get(STREAM_FIELD) if fields else None
                if raw:
                    found.add(int(orjson.loads(raw).get("sequence", 0)))
            if len(entries) < page or (found and min(found) < down_to):
                break
            newest = "(" + entries[-1][0].decode()
        return found

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
