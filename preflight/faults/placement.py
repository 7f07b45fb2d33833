"""Fault proxies placed between a service of the embedded stack and its PostgreSQL primary and
Redis: the service is restarted (`stack.start_service` with environment overrides, the stack's
documented hook) with its DATABASE_URL and REDIS_URL pointing at a `FaultProxy` each, and on
leaving restarted with its own settings again, before the proxies close.

    with behind_fault_proxies("mes", state_dir) as paths:
        with path_faulted(paths.postgres, ResetPeer(), "MES -> PostgreSQL reset") as fault:
            ...   # every connection of the MES to the primary reset; healed on leaving

The replica is left alone (reads fall back to the primary on their own, see test_database_faults);
the proxies run in the caller's process, so the block must not outlive it.
"""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from preflight import stack
from preflight.faults.processes import Fault
from preflight.faults.proxy import FaultProxy, Toxic
from reference_services.catalog import spec


@dataclass(frozen=True)
class ServicePaths:
    """The proxies a service reaches its dependencies through (None: not proxied)."""

    service: str
    postgres: FaultProxy | None = None
    redis: FaultProxy | None = None
    env: dict[str, str] = field(default_factory=dict)
    """The overrides the service was started with."""


def through(url: str, proxy: FaultProxy) -> str:
    """The URL with its host and port replaced by the proxy's (user, path and query kept)."""
    parts = urlsplit(url)
    user, _, _ = parts.netloc.rpartition("@")
    address = f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=f"{user}@{address}" if user else address))


def _upstream(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.hostname is None or parts.port is None:
        raise stack.StackConfigError(f"{url} names no host and port to put a proxy before")
    return parts.hostname, parts.port


@contextlib.contextmanager
def behind_fault_proxies(
    service: str, state_dir: Path, *, postgres: bool = True, redis: bool = True, seed: int = 0
) -> Iterator[ServicePaths]:
    """The stack's `service` restarted to reach its primary database and Redis through fault
    proxies for the block; restarted with its own settings on leaving, however it is left."""
    info = stack.status(state_dir=state_dir)
    if info is None:
        raise stack.StackError(f"no running stack in {state_dir}")
    service_spec = spec(service)
    prefix = service_spec.env_prefix
    env: dict[str, str] = {}
    with contextlib.ExitStack() as proxies:
        database = None
        if postgres and service_spec.database is not None:
            dsn = info.database_dsn(service_spec.database)
            database = proxies.enter_context(FaultProxy(_upstream(dsn), seed=seed))
            env[f"{prefix}DATABASE_URL"] = stack.asyncpg_url(through(dsn, database))
        cache = None
        if redis:
            cache = proxies.enter_context(FaultProxy(_upstream(info.redis_url), seed=seed + 1))
            env[f"{prefix}REDIS_URL"] = through(info.redis_url, cache)
        stack.stop_service(service, state_dir=state_dir)
        try:
            stack.start_service(service, state_dir=state_dir, env=env)
            yield ServicePaths(service, database, cache, env)
        finally:
            stack.stop_service(service, state_dir=state_dir)
            stack.start_service(service, state_dir=state_dir)


@contextlib.contextmanager
def path_faulted(proxy: FaultProxy | None, toxic: Toxic, name: str) -> Iterator[Fault]:
    """The toxic on the proxied path for the block, as a `Fault` healed on leaving it."""
    if proxy is None:
        raise ValueError(f"{name}: the path is not behind a fault proxy")
    with proxy.toxic(toxic):
        fault = Fault(name)
        try:
            yield fault
        finally:
            fault.heal()
