"""The skeleton every reference service shares: errors, telemetry, health, metrics, resources."""

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI, Request
from opentelemetry import trace
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis
from starlette.responses import Response

from reference_services.platform.background import run_with_app
from reference_services.platform.cache import VersionedCache
from reference_services.platform.db import Database
from reference_services.platform.health import health_router
from reference_services.platform.problem_docs import with_documented_problems
from reference_services.platform.problems import install_problem_handlers
from reference_services.platform.resource_metrics import instrument_resources
from reference_services.platform.settings import BaseServiceSettings, ServiceSettings
from reference_services.platform.telemetry import (
    FASTAPI_TELEMETRY,
    ServiceMetrics,
    TelemetryMiddleware,
    build_tracer,
    configure_logging,
)


@dataclass
class Resources:
    settings: ServiceSettings
    db: Database
    redis: Redis
    cache: VersionedCache
    metrics: ServiceMetrics


async def resources(request: Request) -> Resources:
    found: Resources = request.app.state.resources
    return found


@dataclass(frozen=True)
class Instrumentation:
    metrics: ServiceMetrics
    tracer: trace.Tracer


def instrument(app: FastAPI, settings: BaseServiceSettings) -> Instrumentation:
    """What every service has, with or without a database: JSON logs, problem+json errors, the
    telemetry middleware (request id, traces, RED metrics, access log) and GET /metrics."""
    configure_logging(settings.service_name, settings.log_level)
    metrics = ServiceMetrics(settings.service_name)
    tracer = build_tracer(settings.service_name, settings.otlp_endpoint)
    install_problem_handlers(app)
    app.add_middleware(TelemetryMiddleware, metrics=metrics, tracer=tracer)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return Instrumentation(metrics, tracer)


def build_service_app(
    settings: ServiceSettings, *, title: str, version: str, routers: Sequence[APIRouter]
) -> FastAPI:
    db = Database(
        settings.database_url,
        settings.replica_database_url,
        pool_size=settings.db_pool_size,
        read_your_writes_wait_s=settings.read_your_writes_wait_ms / 1000,
    )
    redis = Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await redis.aclose()
        await db.dispose()

    app = FastAPI(title=title, version=version, lifespan=lifespan, telemetry=FASTAPI_TELEMETRY)
    telemetry = instrument(app, settings)
    cache = VersionedCache(redis, f"{settings.service_name}:", settings.cache_ttl_s)
    app.state.resources = Resources(
        settings=settings, db=db, redis=redis, cache=cache, metrics=telemetry.metrics
    )
    replica_lag = instrument_resources(settings.service_name, db, cache, telemetry.metrics.registry)
    run_with_app(app, replica_lag.run)

    async def ping_redis() -> object:
        return await redis.ping()

    async def ping_primary() -> None:
        await db.ping("primary")

    async def ping_replica() -> None:
        await db.ping("replica")

    app.include_router(
        health_router({"primary": ping_primary, "replica": ping_replica, "redis": ping_redis})
    )

    for router in routers:
        app.include_router(router)
    return with_documented_problems(app)
