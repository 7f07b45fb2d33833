"""The reference services the embedded stack runs, and how each is started."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    app: str
    database: str | None
    env_prefix: str


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        name="mes",
        app="reference_services.mes.entrypoints.app:app_factory",
        database="mes",
        env_prefix="MES_",
    ),
)


def spec(name: str) -> ServiceSpec:
    for service in SERVICES:
        if service.name == name:
            return service
    known = ", ".join(s.name for s in SERVICES)
    raise KeyError(f"unknown service {name!r} (known: {known})")
