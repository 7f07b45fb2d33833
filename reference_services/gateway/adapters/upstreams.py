"""The services behind the gateway: one keep-alive connection pool per upstream, a circuit breaker,
timeouts, and retries for requests that are safe to repeat.

A request is retried (at most `retries` times, with exponential backoff and jitter) only when it is
idempotent (GET, HEAD, OPTIONS, or it carries an Idempotency-Key) and the attempt ended in a
connect error, a timeout, a broken response or a 502/503/504. Every attempt carries the W3C trace
context of the gateway's server span (a failed one is an event on that span) and is one
observation of the upstream duration metric.
"""

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

import httpx
from opentelemetry import propagate, trace
from prometheus_client import Counter, Histogram

from reference_services.gateway.adapters.transport import Exchanged, KeepAliveTransport, Timeouts
from reference_services.gateway.domain.breaker import CircuitBreaker, CircuitOpen

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
RETRIED_STATUSES = frozenset({502, 503, 504})

Header = tuple[bytes, bytes]
Outcome = Literal["ok", "client-error", "server-error", "timeout", "connect-error", "bad-response"]
OUTCOMES: tuple[Outcome, ...] = (
    "ok",
    "client-error",
    "server-error",
    "timeout",
    "connect-error",
    "bad-response",
)


class UpstreamFailure(Exception):
    """The upstream gave no usable answer; `kind` names the problem the caller sees."""

    def __init__(
        self,
        upstream: str,
        kind: Literal["upstream-unavailable", "upstream-timeout", "bad-gateway"],
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(f"{upstream}: {kind}")
        self.upstream = upstream
        self.kind = kind
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 2
    backoff_s: float = 0.05

    def delay(self, attempt: int) -> float:
        """Backoff before retry number `attempt` (1-based): exponential, with +-50% jitter."""
        return float(self.backoff_s * 2.0 ** (attempt - 1) * random.uniform(0.5, 1.5))


class Upstream:
    """One upstream service: its connection pool, breaker, retry policy and metrics.

    `client` (an httpx.AsyncClient on the same pool) serves the health check; proxied requests
    go to the pool directly, without the client's cookie jar (a proxy must not carry one
    caller's cookies to the next), redirect handling or request/response models.
    """

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        breaker: CircuitBreaker,
        retry: RetryPolicy,
        duration: Histogram,
        retries_total: Counter,
        connect_timeout_s: float = 1.0,
        read_timeout_s: float = 5.0,
        max_connections: int = 100,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.breaker = breaker
        self.retry = retry
        self._duration = {outcome: duration.labels(name, outcome) for outcome in OUTCOMES}
        self._retries = retries_total
        url = httpx.URL(self.base_url)
        if url.scheme != "http" or not url.host or url.path not in ("", "/"):
            raise ValueError(f"upstream {name}: expected http://host:port, got {base_url!r}")
        self.pool = KeepAliveTransport(
            url.host,
            url.port or 80,
            max_connections=max_connections,
            # below uvicorn's 5 s keep-alive, so that the upstream never closes a connection
            # the pool is about to reuse
            keepalive_expiry=4.0,
            timeouts=Timeouts(
                connect=connect_timeout_s, read=read_timeout_s, pool=connect_timeout_s
            ),
        )
        self.client = httpx.AsyncClient(
            base_url=self.base_url, transport=self.pool, follow_redirects=False, trust_env=False
        )

    async def send(
        self,
        method: str,
        path: str,
        query: bytes,
        headers: Sequence[Header],
        body: bytes,
        *,
        idempotent: bool,
    ) -> Exchanged:
        target = quote(path).encode() + (b"?" + query if query else b"")
        attempt = 0
        while True:
            try:
                trial = self.breaker.admit()
            except CircuitOpen as exc:
                raise UpstreamFailure(
                    self.name, "upstream-unavailable", exc.retry_after_s
                ) from None
            reply, failure = await self._attempt(method, target, headers, body, trial)
            status = reply.status if reply is not None else 0
            if (
                attempt < self.retry.retries
                and idempotent
                and (failure is not None or status in RETRIED_STATUSES)
            ):
                attempt += 1
                self._retries.inc()
                await asyncio.sleep(self.retry.delay(attempt))
                continue
            if failure is not None:
                raise failure
            assert reply is not None
            return reply

    async def _attempt(
        self, method: str, target: bytes, headers: Sequence[Header], body: bytes, trial: bool
    ) -> tuple[Exchanged | None, UpstreamFailure | None]:
        started = time.perf_counter()
        outcome: Outcome
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        sent = [*headers, *((k.encode(), v.encode()) for k, v in carrier.items())]
        try:
            reply = await self.pool.exchange(method, target, sent, body)
        except httpx.TimeoutException:
            outcome, failure = "timeout", UpstreamFailure(self.name, "upstream-timeout")
        except httpx.ConnectError:
            outcome = "connect-error"
            failure = UpstreamFailure(self.name, "upstream-unavailable", 1.0)
        except httpx.TransportError:
            outcome, failure = "bad-response", UpstreamFailure(self.name, "bad-gateway")
        except BaseException:
            self.breaker.abandoned(trial)
            raise
        else:
            if reply.status >= 500:
                self.breaker.failed(trial)
                outcome = "server-error"
            else:
                self.breaker.succeeded(trial)
                outcome = "ok" if reply.status < 400 else "client-error"
            self._duration[outcome].observe(time.perf_counter() - started)
            return reply, None
        trace.get_current_span().add_event(
            "upstream attempt failed", {"upstream": self.name, "outcome": outcome}
        )
        self.breaker.failed(trial)
        self._duration[outcome].observe(time.perf_counter() - started)
        return None, failure

    async def live(self) -> None:
        """The upstream's /health/live answers 200 (the gateway's readiness check)."""
        response = await self.client.get("/health/live", timeout=2.0)
        if response.status_code != 200:
            raise RuntimeError(f"{self.name} /health/live answered {response.status_code}")

    async def aclose(self) -> None:
        await self.client.aclose()
