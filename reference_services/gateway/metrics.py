"""The gateway's own Prometheus metrics, next to the RED metrics every service exports."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from reference_services.platform.telemetry import LATENCY_BUCKETS


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.breaker_state = Gauge(
            "gateway_circuit_breaker_state",
            "Circuit breaker of each upstream: 0 closed, 1 half-open, 2 open.",
            ["upstream"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "gateway_rate_limited",
            "Requests refused with 429 because the caller's token bucket was empty.",
            registry=registry,
        )
        self.rate_limiter_errors = Counter(
            "gateway_rate_limiter_errors",
            "Redis failures of the rate limiter; requests were let through (fail open).",
            registry=registry,
        )
        self.upstream_duration = Histogram(
            "gateway_upstream_request_duration_seconds",
            "Time of one attempt to an upstream, by outcome.",
            ["upstream", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.upstream_retries = Counter(
            "gateway_upstream_retries",
            "Attempts repeated after a connect error, timeout or 502/503/504.",
            ["upstream"],
            registry=registry,
        )
