"""CRM settings: the shared service settings under the CRM_ prefix, plus how it reaches the MES."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from reference_services.platform.settings import ServiceSettings


class CrmSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_", extra="ignore")

    service_name: str = "crm"
    gateway_url: str = "http://127.0.0.1:8080"
    service_token: str | None = None
    gateway_timeout_s: float = Field(default=5.0, gt=0)
    background_workers: bool = True
    submit_backoff_base_s: float = Field(default=0.2, gt=0)
    submit_backoff_cap_s: float = Field(default=30.0, gt=0)
    submit_scan_interval_s: float = Field(default=1.0, gt=0)
    submit_batch_size: int = Field(default=50, ge=1, le=500)
    status_poll_interval_s: float = Field(default=0.5, gt=0)
    status_poll_overlap_s: float = Field(default=5.0, ge=0)
    status_poll_page_size: int = Field(default=200, ge=1, le=200)
    webhook_secret: str = Field(default="", description="Verifies the notification callbacks")

    @property
    def submit_lease_s(self) -> float:
        """How long a claimed order stays with its submitter: past any answer's deadline."""
        return self.gateway_timeout_s * 2 + 5
