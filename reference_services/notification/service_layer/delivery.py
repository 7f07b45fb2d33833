"""The delivery worker: sends queued webhooks, signed, and settles each attempt.

A 2xx answer delivers. 408, 425, 429 and 5xx answers, timeouts and connection errors are retried
with exponential backoff and jitter until the attempts run out (dead). Any other 4xx means the
receiver refuses the delivery for good (failed), as does a URL whose host now resolves to an
address the policy refuses. Redirects are not followed (a receiver could point them anywhere,
past the URL check): a 3xx answer fails the delivery for good too. Each attempt is written to the
delivery log; a delivery is claimed with a lease, so a worker that dies mid-send leaves it to
another.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram

from reference_services.notification.adapters import deliveries
from reference_services.notification.adapters.address_resolution import RefusedUrl, check_url
from reference_services.notification.adapters.deliveries import AttemptResult, Claimed
from reference_services.notification.domain.callback_urls import Allowlist
from reference_services.platform.backoff import Backoff
from reference_services.platform.db import Database
from reference_services.platform.webhook_signatures import signed_headers

log = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({408, 425, 429})
UrlCheck = Callable[[str, Allowlist], Awaitable[None]]


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int
    backoff: Backoff
    timeout_s: float
    batch_size: int
    poll_interval_s: float
    concurrency: int
    allowlist: Allowlist

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.timeout_s * 2 + 5)


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.attempts = Counter(
            "notification_webhook_attempts_total",
            "Webhook delivery attempts by result (delivered, retry, failed, dead).",
            ["result"],
            registry=registry,
        )
        self.duration = Histogram(
            "notification_webhook_attempt_seconds",
            "How long a webhook receiver took to answer.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        http: httpx.AsyncClient,
        policy: DeliveryPolicy,
        metrics: DeliveryMetrics,
        url_check: UrlCheck = check_url,
    ) -> None:
        self.db = db
        self.http = http
        self.policy = policy
        self.metrics = metrics
        self.url_check = url_check
        self.wake = asyncio.Event()
        self._slots = asyncio.Semaphore(policy.concurrency)

    async def run(self) -> None:
        while True:
            if await self.deliver_due() < self.policy.batch_size:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.policy.poll_interval_s)

    async def deliver_due(self) -> int:
        """Claim a batch of due deliveries and send them; returns how many were claimed."""
        async with self.db.write() as write:
            claimed = await deliveries.claim_due(
                write.conn, self.policy.batch_size, self.policy.lease
            )
        await asyncio.gather(*(self._bounded(item) for item in claimed))
        return len(claimed)

    async def _bounded(self, item: Claimed) -> None:
        async with self._slots:
            result = await self.attempt(item)
        async with self.db.write() as write:
            await deliveries.record_attempt(write.conn, item, result)
        self.metrics.attempts.labels(
            "retry" if result.outcome == "pending" else result.outcome
        ).inc()

    async def attempt(self, item: Claimed) -> AttemptResult:
        started = datetime.now(UTC)
        clock = time.perf_counter()
        try:
            await self.url_check(item.url, self.policy.allowlist)
        except RefusedUrl as refused:
            return AttemptResult(started, 0, None, f"refused: {refused}", "failed")
        body = orjson.dumps(item.body)
        headers = signed_headers(item.secret, str(item.id), body) | {
            "Content-Type": "application/json",
            "User-Agent": "preflight-notification",
        }
        status: int | None = None
        error: str | None = None
        try:
            response = await self.http.post(item.url, content=body, headers=headers)
            status = response.status_code
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}"[:500] or type(failure).__name__
        elapsed = time.perf_counter() - clock
        self.metrics.duration.observe(elapsed)
        duration_ms = int(elapsed * 1000)
        if status is not None and 200 <= status < 300:
            return AttemptResult(started, duration_ms, status, None, "delivered")
        if status is not None:
            error = f"HTTP {status}"
            if 300 <= status < 400:
                error = f"HTTP {status}: redirects are not followed"
                return AttemptResult(started, duration_ms, status, error, "failed")
            if 400 <= status < 500 and status not in RETRIED_STATUSES:
                return AttemptResult(started, duration_ms, status, error, "failed")
        if item.attempt >= self.policy.max_attempts:
            return AttemptResult(started, duration_ms, status, error, "dead")
        retry_at = datetime.now(UTC) + timedelta(seconds=self.policy.backoff.delay(item.attempt))
        log.info("webhook %s to %s: %s; retry at %s", item.id, item.url, error, retry_at)
        return AttemptResult(started, duration_ms, status, error, "pending", retry_at)
