"""Is the target fit to be tested? One pass over every service and database it names.

Checks, each a `HealthCheck` in the returned `HealthReport`:
- every service answers ``GET /health/ready`` with 200 (with the target's headers);
- for each database whose DSNs are known: the primary is not in recovery (it takes writes),
  the replica is in recovery and streaming from the primary (``pg_stat_wal_receiver`` reports
  ``streaming``, or, where that view hides its columns from the role, a WAL receive LSN exists);
- when a Redis URL is known: it answers PING.

Checks run concurrently with short timeouts so an unreachable preprod fails fast.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import psycopg
import redis

from preflight.targets import Target

READY_PATH = "/health/ready"
DEFAULT_TIMEOUT_S = 3.0
_DETAIL_LIMIT = 300


@dataclass(frozen=True)
class HealthCheck:
    name: str  # "mes /health/ready", "mes database primary", "redis"
    ok: bool
    detail: str


@dataclass(frozen=True)
class HealthReport:
    checks: tuple[HealthCheck, ...]

    @property
    def healthy(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failures(self) -> tuple[HealthCheck, ...]:
        return tuple(check for check in self.checks if not check.ok)

    def describe_failures(self) -> str:
        """One line per failed check: "mes /health/ready: connection refused ..."."""
        return "\n".join(f"{check.name}: {check.detail}" for check in self.failures)


def check_target(target: Target, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> HealthReport:
    """Run every check the target allows and report each one, in a stable order."""
    probes: list[Callable[[], HealthCheck]] = []
    with httpx.Client(headers=dict(target.headers), timeout=timeout_s) as client:
        for service, base_url in sorted(target.services.items()):
            probes.append(_bind_service(client, service, base_url))
        for service, dsns in sorted(target.databases.items()):
            probes.append(_bind_primary(service, dsns.primary, timeout_s))
            if dsns.replica is not None:
                probes.append(_bind_replica(service, dsns.replica, timeout_s))
        if target.redis_url is not None:
            redis_url = target.redis_url
            probes.append(lambda: check_redis(redis_url, timeout_s=timeout_s))
        if not probes:
            return HealthReport(checks=())
        with ThreadPoolExecutor(max_workers=min(8, len(probes))) as pool:
            checks = tuple(pool.map(lambda probe: probe(), probes))
    return HealthReport(checks=checks)


def check_service(client: httpx.Client, service: str, base_url: str) -> HealthCheck:
    name = f"{service} {READY_PATH}"
    url = base_url.rstrip("/") + READY_PATH
    try:
        response = client.get(url)
    except httpx.TimeoutException as exc:
        return HealthCheck(name, False, f"{url} timed out ({type(exc).__name__})")
    except httpx.HTTPError as exc:
        return HealthCheck(name, False, f"{url} unreachable ({type(exc).__name__}: {exc})")
    if response.status_code == httpx.codes.OK:
        return HealthCheck(name, True, f"{url} answered 200")
    return HealthCheck(
        name, False, f"{url} answered {response.status_code}: {_problem_text(response)}"
    )


def check_primary(service: str, dsn: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> HealthCheck:
    name = f"{service} database primary"
    try:
        with _connect(dsn, timeout_s) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    except psycopg.Error as exc:
        return HealthCheck(name, False, f"{_redact(dsn)} unreachable: {_first_line(exc)}")
    if row is None or row[0]:
        return HealthCheck(name, False, f"{_redact(dsn)} is in recovery: it is not a primary")
    return HealthCheck(name, True, f"{_redact(dsn)} accepts writes")


def check_replica(service: str, dsn: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> HealthCheck:
    name = f"{service} database replica"
    query = (
        "SELECT pg_is_in_recovery(), pg_last_wal_receive_lsn()::text,"
        " (SELECT status FROM pg_stat_wal_receiver LIMIT 1)"
    )
    try:
        with _connect(dsn, timeout_s) as conn:
            row = conn.execute(query).fetchone()
    except psycopg.Error as exc:
        return HealthCheck(name, False, f"{_redact(dsn)} unreachable: {_first_line(exc)}")
    if row is None or not row[0]:
        return HealthCheck(name, False, f"{_redact(dsn)} is not in recovery: it is not a replica")
    _, receive_lsn, status = row
    if status == "streaming" or (status is None and receive_lsn is not None):
        return HealthCheck(name, True, f"{_redact(dsn)} streaming, received up to {receive_lsn}")
    return HealthCheck(
        name,
        False,
        f"{_redact(dsn)} is not streaming (wal receiver: {status or 'none'},"
        f" received lsn: {receive_lsn or 'none'})",
    )


def check_redis(url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> HealthCheck:
    name = "redis"
    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        client.ping()
    except redis.RedisError as exc:
        return HealthCheck(name, False, f"{_redact(url)} unreachable: {_first_line(exc)}")
    finally:
        client.close()
    return HealthCheck(name, True, f"{_redact(url)} answered PING")


def _bind_service(client: httpx.Client, service: str, base_url: str) -> Callable[[], HealthCheck]:
    return lambda: check_service(client, service, base_url)


def _bind_primary(service: str, dsn: str, timeout_s: float) -> Callable[[], HealthCheck]:
    return lambda: check_primary(service, dsn, timeout_s=timeout_s)


def _bind_replica(service: str, dsn: str, timeout_s: float) -> Callable[[], HealthCheck]:
    return lambda: check_replica(service, dsn, timeout_s=timeout_s)


def _connect(dsn: str, timeout_s: float) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        _libpq_dsn(dsn), connect_timeout=max(1, round(timeout_s)), autocommit=True
    )


def _libpq_dsn(dsn: str) -> str:
    """Accept SQLAlchemy-style URLs too: postgresql+asyncpg://... -> postgresql://..."""
    scheme, sep, rest = dsn.partition("://")
    if sep and "+" in scheme:
        return f"{scheme.split('+', 1)[0]}://{rest}"
    return dsn


def _redact(url: str) -> str:
    """Drop credentials from a URL before it goes into a report."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = authority.rsplit("@", 1)[1]
    return f"{scheme}://{authority}{slash}{path.split('?', 1)[0]}"


def _problem_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:_DETAIL_LIMIT] or response.reason_phrase
    if isinstance(body, dict):
        parts = [str(body[key]) for key in ("title", "detail") if body.get(key)]
        if parts:
            return " - ".join(parts)[:_DETAIL_LIMIT]
    return response.text[:_DETAIL_LIMIT]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:_DETAIL_LIMIT]
