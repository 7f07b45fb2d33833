"""The MES outbox relay as its own process: publishes the MES outbox to the `mes.events` stream.

It has no API of its own: /health/ready (primary and Redis answer) and /metrics with the outbox
lag (`outbox_lag_seconds`, `outbox_unpublished_events`) and the published-event counters.
"""

from fastapi import FastAPI
from pydantic import Field
from pydantic_settings import SettingsConfigDict
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import create_async_engine

from reference_services.mes.settings import MesSettings
from reference_services.platform.background import run_with_app
from reference_services.platform.health import health_router
from reference_services.platform.outbox_relay import OutboxRelay, RelayConfig, RelayMetrics
from reference_services.platform.service_app import instrument

EVENTS_STREAM = "mes.events"


class RelaySettings(MesSettings):
    model_config = SettingsConfigDict(env_prefix="MES_", extra="ignore")

    service_name: str = "mes-relay"
    relay_batch_size: int = Field(default=500, ge=1)
    relay_poll_interval_ms: int = Field(default=20, ge=1)
    events_stream: str = EVENTS_STREAM
    events_stream_maxlen: int = Field(default=1_000_000, ge=1000)


def create_app(settings: RelaySettings) -> FastAPI:
    engine = create_async_engine(settings.database_url, pool_size=2, max_overflow=2)
    redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
    app = FastAPI(title="MES outbox relay", openapi_url=None, docs_url=None, redoc_url=None)
    telemetry = instrument(app, settings)
    config = RelayConfig(
        stream=settings.events_stream,
        source="mes",
        batch_size=settings.relay_batch_size,
        poll_interval_s=settings.relay_poll_interval_ms / 1000,
        stream_maxlen=settings.events_stream_maxlen,
    )
    relay = OutboxRelay(
        engine, redis, config, RelayMetrics(telemetry.metrics.registry, config.stream)
    )

    async def ping_primary() -> None:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def ping_redis() -> object:
        return await redis.ping()

    app.include_router(health_router({"primary": ping_primary, "redis": ping_redis}))
    run_with_app(app, relay.run)
    app.state.relay = relay
    return app


def app_factory() -> FastAPI:
    return create_app(RelaySettings())
