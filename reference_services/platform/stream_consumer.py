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
import os
import socket
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
from reference_services.platform.settings import ConsumerSettings

log = logging.getLogger(__name__)

Handler = Callable[[Envelope, str], Awaitable[None]]
"""Applies one event; gets the envelope and the stream entry id. Raises to have it retried."""

BatchHandler = Callable[[list[tuple[Envelope, str]]], Awaitable[None]]
"""Applies new events together (one transaction); if it raises, each event of the batch goes
through the Handler on its own, so one poison event cannot hold the others back."""


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
    linger_ms: int = 0
    """After a read that did not fill a batch, wait this long before the next: events gather
    into bigger batches (one transaction each) for a little more latency."""

    @property
    def reclaim_interval_s(self) -> float:
        """How often pending entries are looked at: often enough to retry on time."""
        return min(self.retry_idle_ms / 2000, 1.0)


def consumer_config(settings: ConsumerSettings) -> ConsumerConfig:
    """The consumer of a service: its group on the stream, named after this process, with the
    dead-letter stream `<stream>.dead.<group>`."""
    return ConsumerConfig(
        stream=settings.events_stream,
        group=settings.consumer_group,
        consumer=f"{settings.service_name}-{socket.gethostname()}-{os.getpid()}",
        dead_letter_stream=f"{settings.events_stream}.dead.{settings.consumer_group}",
        max_attempts=settings.max_attempts,
        retry_idle_ms=settings.retry_idle_ms,
        batch_size=settings.batch_size,
        linger_ms=settings.batch_linger_ms,
    )


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
        self,
        redis: Redis,
        config: ConsumerConfig,
        handler: Handler,
        metrics: ConsumerMetrics,
        batch_handler: BatchHandler | None = None,
    ) -> None:
        self.redis = redis
        self.config = config
        self.handler = handler
        self.batch_handler = batch_handler
        self.metrics = metrics
        self._lag_measured_at = 0.0
        self._reclaimed_at = 0.0

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
        handled = 0
        if time.monotonic() - self._reclaimed_at >= self.config.reclaim_interval_s:
            handled = await self.reclaim()
            self._reclaimed_at = time.monotonic()
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
            new = [(_text(entry_id), fields) for entry_id, fields in entries]
            if self.batch_handler is not None and len(new) > 1:
                await self.deliver_batch(new)
            else:
                for entry_id, fields in new:
                    await self.deliver(entry_id, fields, attempt=1)
            handled += len(new)
            if self.config.linger_ms and len(new) < self.config.batch_size:
                await asyncio.sleep(self.config.linger_ms / 1000)
        await self.measure_lag()
        return handled

    async def deliver_batch(self, entries: list[tuple[str, dict[bytes, bytes]]]) -> None:
        """First deliveries of new entries, applied together; on failure one by one."""
        assert self.batch_handler is not None
        batch: list[tuple[Envelope, str]] = []
        for entry_id, fields in entries:
            try:
                batch.append((decode(fields), entry_id))
            except InvalidEvent as error:
                await self.dead_letter(entry_id, fields, str(error), 1)
        if not batch:
            return
        tracer = trace.get_tracer(__name__)
        spans = [
            tracer.start_span(
                f"{self.config.stream} process",
                context=propagate.extract({"traceparent": envelope.traceparent or ""}),
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "redis",
                    "messaging.destination.name": self.config.stream,
                    "messaging.consumer.group.name": self.config.group,
                    "messaging.message.id": str(envelope.id),
                    "messaging.batch.message_count": len(batch),
                    "event.type": envelope.type,
                    "delivery.attempt": 1,
                },
            )
            for envelope, _ in batch
        ]
        try:
            await self.batch_handler(batch)
        except Exception as error:
            for span in spans:
                span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
                span.end()
            log.info(
                "consumer %s: a batch of %d failed (%s); applying its events one by one",
                self.config.consumer,
                len(batch),
                error,
            )
            fields_by_id = dict(entries)
            for _, entry_id in batch:
                await self.deliver(entry_id, fields_by_id[entry_id], attempt=1)
            return
        for span in spans:
            span.end()
        await self.redis.xack(self.config.stream, self.config.group, *[e for _, e in batch])
        self.metrics.handled.inc(len(batch))

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
