"""Reporting settings: the shared service settings under the REPORTING_ prefix, the stream it
consumes and the shift pattern its throughput figures use."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from reference_services.platform.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REPORTING_", extra="ignore")

    service_name: str = "reporting"
    events_stream: str = "mes.events"
    consumer_group: str = "reporting"
    max_attempts: int = Field(default=5, ge=1)
    retry_idle_ms: int = Field(default=2_000, ge=100)
    batch_size: int = Field(default=100, ge=1)
    batch_linger_ms: int = Field(default=50, ge=0, description="Gather events this long")
    first_shift_hour: int = Field(default=6, ge=0, le=23, description="UTC hour shift 1 starts")
    shift_hours: int = Field(default=8, ge=1, le=24)
