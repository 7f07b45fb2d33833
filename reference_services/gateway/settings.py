"""Gateway settings (GATEWAY_ prefix): upstreams, token keys, limits, timeouts, retries, breaker."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from reference_services.platform.settings import BaseServiceSettings


class GatewaySettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    service_name: str = "gateway"
    mes_url: str | None = None
    crm_url: str | None = None
    reporting_url: str | None = None
    notification_url: str | None = None
    jwt_secret: str | None = Field(default=None, description="HS256 key of kid 'embedded'")
    jwt_public_keys: dict[str, str] = Field(
        default_factory=dict, description='RS256 public keys as JSON {"kid": "PEM"}'
    )
    rate_limit_per_second: float = Field(default=100.0, gt=0)
    rate_limit_burst: int = Field(default=200, ge=1)
    connect_timeout_s: float = Field(default=1.0, gt=0)
    read_timeout_s: float = Field(default=5.0, gt=0)
    retries: int = Field(default=2, ge=0, le=5)
    retry_backoff_s: float = Field(default=0.05, ge=0)
    breaker_threshold: int = Field(default=5, ge=1)
    breaker_cooldown_s: float = Field(default=5.0, gt=0)
    max_body_bytes: int = Field(default=1024 * 1024, ge=0)
    upstream_max_connections: int = Field(default=100, ge=1)
    token_cache_size: int = Field(default=4096, ge=0)

    def upstream_urls(self) -> dict[str, str | None]:
        return {
            "mes": self.mes_url,
            "crm": self.crm_url,
            "reporting": self.reporting_url,
            "notification": self.notification_url,
        }
