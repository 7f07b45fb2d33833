"""The reference services the embedded stack runs, and how each is started.

Each service gets <PREFIX>DATABASE_URL / REPLICA_DATABASE_URL (if it has a database), REDIS_URL,
RUN_ID, JWT_SECRET, WEBHOOK_SECRET (signs the notification service's callbacks to the CRM),
<PREFIX><OTHER>_URL for every other service (dashes as underscores) and, with service_roles, a
SERVICE_TOKEN carrying those roles for calls through the gateway. A service that works on
another's database (the MES outbox relay) sets `migrates=False`: the owner migrates it.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    app: str
    database: str | None
    env_prefix: str
    service_roles: tuple[str, ...] = ()
    migrates: bool = True
    api: bool = True
    """False for a worker with only /health and /metrics: it has no OpenAPI document."""
    env: tuple[tuple[str, str], ...] = ()
    """Settings for the embedded stack (an environment variable of the same name wins)."""


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        name="mes",
        app="reference_services.mes.entrypoints.app:app_factory",
        database="mes",
        env_prefix="MES_",
    ),
    ServiceSpec(
        name="mes-relay",
        app="reference_services.mes.entrypoints.relay:app_factory",
        database="mes",
        env_prefix="MES_",
        migrates=False,
        api=False,
    ),
    ServiceSpec(
        name="gateway",
        app="reference_services.gateway.entrypoints.app:app_factory",
        database=None,
        env_prefix="GATEWAY_",
    ),
    ServiceSpec(
        name="reporting",
        app="reference_services.reporting.entrypoints.app:app_factory",
        database="reporting",
        env_prefix="REPORTING_",
    ),
    ServiceSpec(
        name="notification",
        app="reference_services.notification.entrypoints.app:app_factory",
        database="notification",
        env_prefix="NOTIFICATION_",
        env=(
            # The stack's CRM and the tests' webhook receivers listen on loopback, named by address:
            # only URLs naming these literally pass, not names resolving to loopback (localhost).
            ("NOTIFICATION_CALLBACK_ALLOWLIST", "127.0.0.1,::1"),
            # Short enough for a test to see the hold alert fire, long beyond the noise.
            ("NOTIFICATION_HOLD_ALERT_AFTER_S", "3"),
            ("NOTIFICATION_SCAN_INTERVAL_S", "0.5"),
            ("NOTIFICATION_DELIVERY_BACKOFF_BASE_S", "0.2"),
            ("NOTIFICATION_DELIVERY_BACKOFF_CAP_S", "5"),
        ),
    ),
    ServiceSpec(
        name="crm",
        app="reference_services.crm.entrypoints.app:app_factory",
        database="crm",
        env_prefix="CRM_",
        service_roles=("crm-integration",),
    ),
)


def with_api() -> tuple[ServiceSpec, ...]:
    return tuple(service for service in SERVICES if service.api)


def spec(name: str) -> ServiceSpec:
    for service in SERVICES:
        if service.name == name:
            return service
    known = ", ".join(s.name for s in SERVICES)
    raise KeyError(f"unknown service {name!r} (known: {known})")
