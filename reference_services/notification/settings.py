"""Notification settings: the shared service settings under the NOTIFICATION_ prefix, the rules'
thresholds, how webhooks are delivered and which callback addresses may be private."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from reference_services.platform.settings import ConsumerSettings


class NotificationSettings(ConsumerSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATION_", extra="ignore")

    service_name: str = "notification"
    consumer_group: str = "notification"

    crm_url: str | None = Field(default=None, description="Where completed orders are called back")
    crm_callback_path: str = "/callbacks/mes-orders"
    webhook_secret: str = Field(default="", description="Signs the CRM callback")

    hold_alert_after_s: float = Field(default=1_800, gt=0, description="On hold longer: alert")
    scan_interval_s: float = Field(default=15, gt=0)
    callback_allowlist: str = Field(
        default="",
        description="Comma-separated networks (CIDR: any name resolving into them), addresses "
        "(only URLs naming them literally) or host names allowed although private",
    )

    delivery_timeout_s: float = Field(default=5.0, gt=0)
    delivery_max_attempts: int = Field(default=8, ge=1)
    delivery_backoff_base_s: float = Field(default=1.0, gt=0)
    delivery_backoff_cap_s: float = Field(default=300.0, gt=0)
    delivery_batch_size: int = Field(default=50, ge=1, le=500)
    delivery_poll_interval_s: float = Field(default=0.5, gt=0)
    delivery_concurrency: int = Field(default=10, ge=1)
