"""A Redis Streams consumer-group worker: at-least-once delivery, retries, dead letters, reclaim.

Each consumer process joins the group under its own name and reads new entries. An entry it
handled is acknowledged; one whose handler raised stays pending and is retried (claimed again
with XAUTOCLAIM once it has been idle `retry_idle_ms`); after `max_attempts` deliveries it is
copied to the dead-letter stream with the error and acknowledged. Entries pending with a consumer
that died are claimed the same way by a live one. Handlers must be idempotent by event id (see
`reference_services.platform.inbox`): a redelivery after a crash between the handler's commit and
the acknowledgement is normal.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import CollectorRegistry, Counter, Gauge
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from reference_services.platform.events import STREAM_FIELD, Envelope, InvalidEvent, decode

log = logging.getLogger(__name__)

Handler = Callable[[Envelope, str], Awaitable[None]]
"""Applies one event; gets the envelope and the stream entry id. Raises to have it retried."""


@dataclass(frozen=True)
class ConsumerConfig:
    stream: str
    group: str
    consumer: str
    dead_letter_stream: str
    max_attempts: int = 5
    retry_idle_ms: int = 2_000
    batch_size: int = 100
    block_ms: int = 500
    lag_interval_s: float = 1.0
    retry_backoff_s: float = 0.5


class ConsumerMetrics:
    def __init__(self, registry: CollectorRegistry, config: ConsumerConfig) -> None:
        labels = (config.stream, config.group)
        names = ["stream", "group"]
        self.handled = Counter(
            "stream_events_handled_total",
            "Stream entries handled and acknowledged.",
            names,
            registry=registry,
        ).labels(*labels)
        self.failed = Counter(
            "stream_event_failures_total",
            "Handler failures (each is retried until the entry is dead-lettered).",
            names,
            registry=registry,
        ).labels(*labels)
        self.dead_lettered = Counter(
            "stream_events_dead_lettered_total",
            "Entries moved to the dead-letter stream after too many failed deliveries.",
            names,
            registry=registry,
        ).labels(*labels)
        self.reclaimed = Counter(
            "stream_events_reclaimed_total",
            "Pending entries claimed again with XAUTOCLAIM (retries and dead consumers).",
            names,
            registry=registry,
        ).labels(*labels)
        self.lag = Gauge(
            "stream_consumer_lag_events",
            "Entries in the stream the group has not yet read (XINFO GROUPS lag).",
            names,
            registry=registry,
        ).labels(*labels)
        self.pending = Gauge(
            "stream_consumer_pending_events",
            "Entries the group read but has not acknowledged yet.",
            names,
            registry=registry,
        ).labels(*labels)


class StreamConsumer:
    def __init__(
        self, redis: Redis, config: ConsumerConfig, handler: Handler, metrics: ConsumerMetrics
    ) -> None:
        self.redis = redis
        self.config = config
        self.handler = handler
        self.metrics = metrics
        self._lag_measured_at = 0.0

    async def run(self) -> None:
        """Consume until cancelled; Redis failures are logged and retried."""
        while True:
            try:
                await self.ensure_group()
                while True:
                    await self.step()
            except RedisError as error:
                log.warning("consumer %s: redis failed: %s", self.config.consumer, error)
                await asyncio.sleep(self.config.retry_backoff_s)

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(
                self.config.stream, self.config.group, id="0", mkstream=True
            )
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def step(self) -> int:
        """Retry or reclaim what is due, then read new entries; returns how many were handled."""
        handled = await self.reclaim()
        try:
            response: Any
            response = await self.redis.xreadgroup(
                self.config.group,
                self.config.consumer,
                {self.config.stream: ">"},
                count=self.config.batch_size,
                block=self.config.block_ms,
            )
        except ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            await self.ensure_group()  # the stream or the group is gone (a Redis that lost them)
            return handled
        for _, entries in response or ():
            for entry_id, fields in entries:
                await self.deliver(_text(entry_id), fields, attempt=1)
                handled += 1
        await self.measure_lag()
        return handled

    async def reclaim(self) -> int:
        """Claim entries pending longer than retry_idle_ms (failed here, or held by a dead
        consumer) and deliver them again, or dead-letter them past max_attempts."""
        handled = 0
        start = "0-0"
        while True:
            reply = await self.redis.xautoclaim(
                self.config.stream,
                self.config.group,
                self.config.consumer,
                min_idle_time=self.config.retry_idle_ms,
                start_id=start,
                count=self.config.batch_size,
            )
            start, entries = _text(reply[0]), reply[1]
            live = [(entry_id, fields) for entry_id, fields in entries if fields]
            if live:
                self.metrics.reclaimed.inc(len(live))
                attempts = await self.delivery_counts([_text(e) for e, _ in live])
                for entry_id, fields in live:
                    key = _text(entry_id)
                    await self.deliver(key, fields, attempt=attempts.get(key, 1))
                    handled += 1
            for deleted in reply[2] if len(reply) > 2 else ():  # trimmed away while pending
                await self.redis.xack(self.config.stream, self.config.group, deleted)
            if start == "0-0":
                return handled

    async def delivery_counts(self, entry_ids: list[str]) -> dict[str, int]:
        pending = await self.redis.xpending_range(
            self.config.stream,
            self.config.group,
            min=entry_ids[0],
            max=entry_ids[-1],
            count=len(entry_ids) * 2,
            consumername=self.config.consumer,
        )
        return {_text(p["message_id"]): int(p["times_delivered"]) for p in pending}

    async def deliver(self, entry_id: str, fields: dict[bytes, bytes], *, attempt: int) -> None:
        try:
            envelope = decode(fields)
        except InvalidEvent as error:
            await self.dead_letter(entry_id, fields, str(error), attempt)
            return
        parent = propagate.extract({"traceparent": envelope.traceparent or ""})
        span = trace.get_tracer(__name__).start_span(
            f"{self.config.stream} process",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "redis",
                "messaging.destination.name": self.config.stream,
                "messaging.consumer.group.name": self.config.group,
                "messaging.message.id": str(envelope.id),
                "event.type": envelope.type,
                "delivery.attempt": attempt,
            },
        )
        failure: Exception | None = None
        with trace.use_span(span, end_on_exit=True, record_exception=False):
            try:
                await self.handler(envelope, entry_id)
            except Exception as error:
                span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
                failure = error
        if failure is not None:
            self.metrics.failed.inc()
            log.warning(
                "consumer %s: %s %s failed (attempt %d of %d): %s",
                self.config.consumer,
                envelope.type,
                envelope.id,
                attempt,
                self.config.max_attempts,
                failure,
            )
            if attempt >= self.config.max_attempts:
                await self.dead_letter(
                    entry_id, fields, f"{type(failure).__name__}: {failure}", attempt
                )
            return
        await self.redis.xack(self.config.stream, self.config.group, entry_id)
        self.metrics.handled.inc()

    async def dead_letter(
        self, entry_id: str, fields: dict[bytes, bytes], error: str, attempts: int
    ) -> None:
        record = {
            STREAM_FIELD: fields.get(STREAM_FIELD, b""),
            b"stream": self.config.stream.encode(),
            b"group": self.config.group.encode(),
            b"entry_id": entry_id.encode(),
            b"attempts": str(attempts).encode(),
            b"error": error.encode()[:2000],
        }
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(self.config.dead_letter_stream, record)  # type: ignore[arg-type]
        pipe.xack(self.config.stream, self.config.group, entry_id)
        await pipe.execute()
        self.metrics.dead_lettered.inc()
        log.error(
            "consumer %s: entry %s dead-lettered to %s after %d attempts: %s",
            self.config.consumer,
            entry_id,
            self.config.dead_letter_stream,
            attempts,
            error,
        )

    async def measure_lag(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._lag_measured_at < self.config.lag_interval_s:
            return
        self._lag_measured_at = now
        groups: list[dict[str, Any]] = await self.redis.xinfo_groups(self.config.stream)
        for group in groups:
            if _text(group["name"]) == self.config.group:
                self.metrics.lag.set(float(group.get("lag") or 0))
                self.metrics.pending.set(float(group.get("pending") or 0))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def dead_letter_document(fields: dict[bytes, bytes]) -> dict[str, object]:
    """A dead-letter entry as JSON-ready data (for admin endpoints and tests)."""
    raw = fields.get(STREAM_FIELD)
    return {
        "envelope": orjson.loads(raw) if raw else None,
        **{k.decode(): v.decode() for k, v in fields.items() if k != STREAM_FIELD},
    }
