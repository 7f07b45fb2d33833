"""MES settings: the shared service settings under the MES_ prefix."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from reference_services.platform.settings import ServiceSettings


class MesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MES_", extra="ignore")

    service_name: str = "mes"
    jwt_secret: str = Field(
        default="", description="The stack's signing secret; signs screen sessions and CSRF tokens"
    )
