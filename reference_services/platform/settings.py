"""Settings every reference service shares; each service subclasses with its own env prefix."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BaseServiceSettings(BaseSettings):
    """What every service has, with or without a database: name, Redis, logs, traces."""

    model_config = SettingsConfigDict(env_prefix="SERVICE_", extra="ignore")

    service_name: str = "service"
    redis_url: str = "redis://127.0.0.1:6379/0"
    run_id: str = "local"
    log_level: str = "INFO"
    otlp_endpoint: str | None = Field(default=None, validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT")


class ServiceSettings(BaseServiceSettings):
    """A service that owns a database (primary + optional replica) and a Redis cache."""

    model_config = SettingsConfigDict(env_prefix="SERVICE_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    replica_database_url: str | None = None
    db_pool_size: int = Field(default=20, ge=1)
    read_your_writes_wait_ms: int = Field(default=250, ge=0)
    cache_ttl_s: int = Field(default=300, ge=1)


class ConsumerSettings(ServiceSettings):
    """A service that consumes an event stream in a consumer group (see stream_consumer)."""

    model_config = SettingsConfigDict(env_prefix="SERVICE_", extra="ignore")

    events_stream: str = "mes.events"
    consumer_group: str = "consumer"
    max_attempts: int = Field(default=5, ge=1, description="Deliveries before dead-lettering")
    retry_idle_ms: int = Field(default=2_000, ge=100)
    batch_size: int = Field(default=100, ge=1)
    batch_linger_ms: int = Field(default=50, ge=0, description="Gather events this long")
