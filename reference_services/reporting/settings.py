"""Reporting settings: the shared service settings under the REPORTING_ prefix, the stream it
consumes and the shift pattern its throughput figures use."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from reference_services.platform.settings import ConsumerSettings


class ReportingSettings(ConsumerSettings):
    model_config = SettingsConfigDict(env_prefix="REPORTING_", extra="ignore")

    service_name: str = "reporting"
    consumer_group: str = "reporting"
    first_shift_hour: int = Field(default=6, ge=0, le=23, description="UTC hour shift 1 starts")
    shift_hours: int = Field(default=8, ge=1, le=24)
