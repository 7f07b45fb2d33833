"""The API gateway: the public API under /api/v1 in front of the MES, CRM, reporting and
notification services; /health/live, /health/ready (Redis and every configured upstream) and
/metrics of its own."""

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from redis.asyncio import Redis

from reference_services.gateway.adapters.rate_limiter import RateLimiter
from reference_services.gateway.adapters.upstreams import RetryPolicy, Upstream
from reference_services.gateway.domain.breaker import BreakerState, CircuitBreaker
from reference_services.gateway.domain.routes import PUBLIC_PREFIX, ROUTES, Table
from reference_services.gateway.entrypoints.authentication import TokenCache, build_verifier
from reference_services.gateway.entrypoints.openapi import public_document, upstream_documents
from reference_services.gateway.entrypoints.proxy import Limits, Proxy
from reference_services.gateway.metrics import GatewayMetrics
from reference_services.gateway.settings import GatewaySettings
from reference_services.platform.auth import RateLimit
from reference_services.platform.health import Check, health_router
from reference_services.platform.service_app import instrument
from reference_services.platform.telemetry import FASTAPI_TELEMETRY

VERSION = "1.0.0"

log = logging.getLogger(__name__)


class GatewayApp(FastAPI):
    def openapi(self) -> dict[str, Any]:
        """The public API: the upstreams' documents as served under /api/v1 (see openapi.py)."""
        if self.openapi_schema is None:
            upstreams = upstream_documents([route.upstream for route in ROUTES])
            self.openapi_schema = public_document(ROUTES, upstreams, version=VERSION)
        return self.openapi_schema


def create_app(settings: GatewaySettings) -> FastAPI:
    redis = Redis.from_url(settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
    upstreams: dict[str, Upstream] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.jwt_secret and not settings.jwt_public_keys:
            log.warning("no GATEWAY_JWT_SECRET or GATEWAY_JWT_PUBLIC_KEYS: every token is refused")
        yield
        for upstream in upstreams.values():
            await upstream.aclose()
        await redis.aclose()

    app = GatewayApp(
        title="Preflight API gateway",
        version=VERSION,
        lifespan=lifespan,
        docs_url=None,
        telemetry=FASTAPI_TELEMETRY,
    )
    telemetry = instrument(app, settings)
    metrics = GatewayMetrics(telemetry.metrics.registry)
    retry = RetryPolicy(settings.retries, settings.retry_backoff_s)
    for name, url in settings.upstream_urls().items():
        if not url:
            continue
        gauge = metrics.breaker_state.labels(name)
        gauge.set(BreakerState.CLOSED)
        upstreams[name] = Upstream(
            name,
            url,
            breaker=CircuitBreaker(
                settings.breaker_threshold,
                settings.breaker_cooldown_s,
                on_change=_recorder(name, gauge.set),
            ),
            retry=retry,
            duration=metrics.upstream_duration,
            retries_total=metrics.upstream_retries.labels(name),
            connect_timeout_s=settings.connect_timeout_s,
            read_timeout_s=settings.read_timeout_s,
            max_connections=settings.upstream_max_connections,
        )
    app.state.proxy = proxy = Proxy(
        table=Table(ROUTES),
        tokens=TokenCache(
            build_verifier(settings.jwt_secret, settings.jwt_public_keys),
            settings.token_cache_size,
        ),
        limiter=RateLimiter(redis, on_error=metrics.rate_limiter_errors.inc),
        upstreams=upstreams,
        limits=Limits(
            RateLimit(settings.rate_limit_per_second, settings.rate_limit_burst),
            settings.max_body_bytes,
        ),
        metrics=metrics,
    )

    async def ping_redis() -> object:
        return await redis.ping()

    checks: dict[str, Check] = {"redis": ping_redis}
    checks |= {name: upstream.live for name, upstream in upstreams.items()}
    app.include_router(health_router(checks))
    app.mount(PUBLIC_PREFIX, proxy)
    return app


def _recorder(upstream: str, set_gauge: Callable[[float], None]) -> Callable[[BreakerState], None]:
    def record(state: BreakerState) -> None:
        set_gauge(int(state))
        log.warning("circuit breaker of %s is now %s", upstream, state.name.lower())

    return record


def app_factory() -> FastAPI:
    return create_app(GatewaySettings())
