"""The embedded reference stack: a PostgreSQL primary with a streaming replica, Redis and the
reference services on free loopback ports, recorded in a manifest so that any later run can find
it, reuse it or clean it up."""

from __future__ import annotations

import atexit
import contextlib
import importlib
import importlib.util
import json
import logging
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import httpx
import psutil
import psycopg
import redis
from filelock import FileLock
from filelock import Timeout as LockTimeout
from psycopg import sql
from pydantic import BaseModel, Field

from preflight import processes, prometheus, rwlock
from preflight.ports import LOOPBACK, free_port, free_ports
from preflight.processes import ProcessRecord, RunAs
from preflight.waits import WaitTimeout, wait_until
from reference_services.catalog import SERVICES, ServiceSpec, spec
from reference_services.platform.auth import (
    ALL_PLANTS,
    issue_token,
    new_rs256_private_key,
    rs256_public_key,
)

log = logging.getLogger(__name__)

POSTGRES_USER = "postgres"
PG_BIN_DIR = Path("/usr/lib/postgresql/15/bin")
REPLICATION_SLOT = "preflight_replica"
READY_TIMEOUT = 60.0
LOCK_TIMEOUT = 120.0
STOP_GRACE = 5.0
LOG_TAIL_LINES = 25
SOCKET_PATH_LIMIT = 100
SERVICE_TOKEN_TTL_S = 30 * 24 * 3600
RS256_KID = "embedded-rs256"
MIGRATION_MODULES = (
    "reference_services.platform.migrations",
    "alembic.runtime.migration",
    "sqlalchemy.dialects.postgresql.psycopg",
)

Progress = Callable[[str], None]


class StackError(Exception):
    """The embedded stack could not be started, found or stopped."""


class StackConfigError(StackError):
    """The environment does not allow a stack: missing binaries, unreachable state dir, bad args."""


class StackAlreadyRunning(StackError):
    """A live stack already uses this state directory."""


class StackBusy(StackError):
    """Another process holds the stack lock for too long."""


class StackStartError(StackError):
    """A part of the stack did not become healthy before the deadline."""


class NotReady(Exception):
    """A readiness probe answered, but not yet with the healthy answer."""


@dataclass(frozen=True)
class StackInfo:
    run_id: str
    services: dict[str, str]
    postgres_primary: str
    postgres_replica: str
    redis_url: str
    jwt_secret: str = ""
    jwt_private_key: str = ""
    """PEM of the RS256 key the stack's identity provider signs with (kid RS256_KID)."""
    jwt_rs256_kid: str = ""
    state_dir: str = ""
    prometheus_url: str = ""
    traces_url: str = ""

    def database_dsn(self, database: str, *, replica: bool = False) -> str:
        """Plain libpq URL of `database` on the primary (or the replica)."""
        return with_database(self.postgres_replica if replica else self.postgres_primary, database)


class Manifest(BaseModel):
    version: Literal[1] = 1
    run_id: str
    started_at: datetime
    state: Literal["starting", "ready", "stopping"] = "starting"
    owner: ProcessRecord | None
    processes: list[ProcessRecord] = Field(default_factory=list)
    ports: dict[str, int] = Field(default_factory=dict)
    data_dirs: list[str] = Field(default_factory=list)
    logs: dict[str, str] = Field(default_factory=dict)
    services: dict[str, str] = Field(default_factory=dict)
    postgres_primary: str = ""
    postgres_replica: str = ""
    redis_url: str = ""
    jwt_secret: str = Field(default_factory=lambda: secrets.token_urlsafe(32))
    jwt_private_key: str = ""
    jwt_rs256_kid: str = ""
    webhook_secret: str = Field(default_factory=lambda: secrets.token_urlsafe(32))
    state_dir: str = ""
    prometheus_url: str = ""
    traces_url: str = ""

    def info(self) -> StackInfo:
        return StackInfo(
            run_id=self.run_id,
            services=dict(self.services),
            postgres_primary=self.postgres_primary,
            postgres_replica=self.postgres_replica,
            redis_url=self.redis_url,
            jwt_secret=self.jwt_secret,
            jwt_private_key=self.jwt_private_key,
            jwt_rs256_kid=self.jwt_rs256_kid,
            state_dir=self.state_dir,
            prometheus_url=self.prometheus_url,
            traces_url=self.traces_url,
        )


@dataclass(frozen=True)
class StatePaths:
    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def lock(self) -> Path:
        return self.root.with_name(f"{self.root.name}.lock")

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def postgres(self) -> Path:
        return self.root / "postgres"

    @property
    def primary_data(self) -> Path:
        return self.postgres / "primary"

    @property
    def replica_data(self) -> Path:
        return self.postgres / "replica"

    @property
    def redis(self) -> Path:
        return self.root / "redis"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"


@dataclass(frozen=True)
class ExternalServers:
    """Servers named in the environment that replace the local PostgreSQL or Redis."""

    postgres_primary: str | None
    postgres_replica: str | None
    redis_url: str | None

    @classmethod
    def from_env(cls) -> ExternalServers:
        primary = os.environ.get("PREFLIGHT_POSTGRES_DSN") or None
        replica = os.environ.get("PREFLIGHT_POSTGRES_REPLICA_DSN") or None
        if replica and not primary:
            raise StackConfigError(
                "PREFLIGHT_POSTGRES_REPLICA_DSN is set without PREFLIGHT_POSTGRES_DSN"
            )
        return cls(primary, replica, os.environ.get("PREFLIGHT_REDIS_URL") or None)


def project_root() -> Path:
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() else Path.cwd()


def default_state_dir() -> Path:
    override = os.environ.get("PREFLIGHT_STATE_DIR")
    if override:
        return Path(override).expanduser().resolve()
    return project_root() / ".preflight" / "stack"


def runs_dir() -> Path:
    """Where stacks started for one test or gate run live, one directory per run."""
    override = os.environ.get("PREFLIGHT_RUNS_DIR")
    if override:
        return Path(override).expanduser().resolve()
    return project_root() / ".preflight" / "runs"


def run_state_dir(run_id: str) -> Path:
    return runs_dir() / run_id


def sweep_stale_runs(progress: Progress | None = None) -> list[str]:
    """Stop and remove the stacks of runs whose owner died (a killed test run); returns their ids.

    Stacks of live runs are left alone, so several runs can go on side by side.
    """
    report = progress or _log_progress
    swept: list[str] = []
    root = runs_dir()
    if not root.is_dir():
        return swept
    for run in sorted(p for p in root.iterdir() if p.is_dir()):
        paths = StatePaths(run)
        manifest = read_manifest(paths)
        if manifest is not None and _is_live(manifest):
            continue
        if manifest is None and not any(paths.root.iterdir()):
            remove_run_dir(run)
            continue
        report(f"cleaning up the stale stack of run {run.name}")
        _stop(paths, run_id=None)
        remove_run_dir(run)
        swept.append(run.name)
    return swept


def remove_run_dir(state_dir: Path) -> None:
    """Remove a stopped run's state dir and the lock files beside it."""
    shutil.rmtree(state_dir, ignore_errors=True)
    for suffix in (".lock", ".services.lock", ".turnstile.lock"):
        state_dir.with_name(state_dir.name + suffix).unlink(missing_ok=True)


def start(
    *,
    state_dir: Path | None = None,
    services: Sequence[str] | None = None,
    keep: bool = False,
    reuse: bool = False,
    timeout: float = READY_TIMEOUT,
    progress: Progress | None = None,
    with_prometheus: bool = False,
    tracing: bool = True,
) -> StackInfo:
    """Start the stack and return once every part of it is healthy.

    keep: the stack outlives this process (no owner; `preflight stack down` stops it).
    reuse: return the live stack already using this state dir instead of refusing.
    with_prometheus: also run a Prometheus scraping every service, with the alert rules loaded.
    tracing: run an OTLP receiver (`preflight.traces`) and have every service export its spans
    to it (off for benchmarks: recording spans costs CPU).
    """
    paths = StatePaths(_resolve(state_dir))
    selected = _select_services(services)
    external = ExternalServers.from_env()
    report = progress or _log_progress
    paths.root.parent.mkdir(parents=True, exist_ok=True)
    with _locked(paths):
        previous = read_manifest(paths)
        if previous is not None and _is_live(previous):
            if reuse and previous.state == "ready":
                return previous.info()
            raise StackAlreadyRunning(_already_running_message(previous, paths))
        if previous is not None:
            report(f"cleaning up stale stack {previous.run_id}")
        _tear_down(paths, previous)
        launch = _Launch(paths, keep=keep, timeout=timeout, report=report)
        try:
            return launch.run(selected, external, with_prometheus=with_prometheus, tracing=tracing)
        except BaseException:
            _abort(paths, launch.manifest)
            raise


def stop(*, state_dir: Path | None = None) -> None:
    """Stop everything the stack in this state dir started and remove its data (logs stay)."""
    _stop(StatePaths(_resolve(state_dir)), run_id=None)


def stop_service(name: str, *, state_dir: Path | None = None, kill: bool = False) -> None:
    """Stop one service of the running stack (to test how the others cope) until start_service.

    With kill, the process gets SIGKILL at once (a crash: no shutdown code runs). The service
    leaves the manifest's processes meanwhile, so the stack still counts as live.
    """
    paths = StatePaths(_resolve(state_dir))
    with _locked(paths):
        manifest = _ready_manifest(paths)
        records = [r for r in manifest.processes if r.name == f"service:{name}"]
        plan = [
            (process, (signal.SIGKILL,) if kill else _stop_signals(r))
            for r in records
            if (process := r.find()) is not None
        ]
        survivors = processes.end_processes(plan, grace=STOP_GRACE)
        if survivors:
            raise StackError(f"could not stop service {name} (pid {survivors[0].pid})")
        manifest.processes = [r for r in manifest.processes if r not in records]
        write_manifest(paths, manifest)


def start_service(
    name: str,
    *,
    state_dir: Path | None = None,
    timeout: float = READY_TIMEOUT,
    env: Mapping[str, str] | None = None,
) -> None:
    """Start a service stopped by stop_service again, on its port, and wait until it is ready.

    `env` overrides its environment (to point the gateway at a fault proxy, say); start it
    again without to restore it. The restarted process outlives the caller (a test worker);
    stopping the stack stops it.
    """
    paths = StatePaths(_resolve(state_dir))
    service = _select_services([name])[0]
    with _locked(paths):
        manifest = _ready_manifest(paths)
        if any(r.name == f"service:{name}" and r.is_alive() for r in manifest.processes):
            return
        port = manifest.ports.get(f"service:{name}")
        if port is None or name not in manifest.services:
            raise StackConfigError(f"the stack in {paths.root} has no service {name}")
        launch = _Launch(paths, keep=True, timeout=timeout, report=_log_progress)
        launch.manifest = manifest
        child = launch.start_service(service, port, dict(manifest.services), env)
        launch.wait_for(
            f"service {name}",
            partial(service_ready, manifest.services[name]),
            child=child,
            log=name,
        )


def restart_redis(*, state_dir: Path | None = None, timeout: float = READY_TIMEOUT) -> None:
    """Stop the stack's Redis (SIGTERM: it finishes its append-only log) and start it again on
    the same port and data directory; returns once it answers."""
    paths = StatePaths(_resolve(state_dir))
    with _locked(paths):
        manifest = _ready_manifest(paths)
        records = [r for r in manifest.processes if r.name == "redis"]
        port = manifest.ports.get("redis")
        if not records or port is None:
            raise StackConfigError(f"the stack in {paths.root} runs no Redis of its own")
        plan = [(process, _stop_signals(r)) for r in records if (process := r.find()) is not None]
        survivors = processes.end_processes(plan, grace=STOP_GRACE)
        if survivors:
            raise StackError(f"could not stop Redis (pid {survivors[0].pid})")
        manifest.processes = [r for r in manifest.processes if r not in records]
        launch = _Launch(paths, keep=True, timeout=timeout, report=_log_progress)
        launch.manifest = manifest
        url, child = launch.start_redis(port)
        launch.wait_for("Redis", lambda: redis_answers(url), child=child, log="redis")


PostgresRole = Literal["primary", "replica"]


def service_processes(name: str, *, state_dir: Path | None = None) -> list[psutil.Process]:
    """The live processes of one service of the running stack (to pause them, say)."""
    manifest = _ready_manifest(StatePaths(_resolve(state_dir)))
    found = [r.find() for r in manifest.processes if r.name == f"service:{name}"]
    return [process for process in found if process is not None]


def stop_postgres(
    role: PostgresRole, *, state_dir: Path | None = None, mode: str = "immediate"
) -> None:
    """`pg_ctl stop -m MODE` one PostgreSQL server of the stack (immediate: a crash, no
    checkpoint; the next start recovers from the WAL) until start_postgres. The server leaves
    the manifest's processes meanwhile, so the stack still counts as live."""
    paths = StatePaths(_resolve(state_dir))
    with _locked(paths):
        manifest = _ready_manifest(paths)
        records = [r for r in manifest.processes if r.name == f"postgres:{role}"]
        if not records:
            raise StackConfigError(f"the stack in {paths.root} runs no PostgreSQL {role}")
        data_dir = paths.primary_data if role == "primary" else paths.replica_data
        logfile = paths.log(f"postgres-{role}")
        done = processes.run(
            [str(_pg_binary("pg_ctl")), "stop", "-D", str(data_dir), "-m", mode, "-w"],
            log=logfile,
            cwd=paths.postgres,
            run_as=_postgres_account(),
            timeout=READY_TIMEOUT,
        )
        if done.returncode != 0:
            raise StackError(f"pg_ctl stop of the {role} failed" + _tail(logfile))
        for record in records:
            processes.reap(record.pid)
        manifest.processes = [r for r in manifest.processes if r not in records]
        write_manifest(paths, manifest)


def start_postgres(
    role: PostgresRole, *, state_dir: Path | None = None, timeout: float = READY_TIMEOUT
) -> None:
    """Start a server stopped by stop_postgres again on its data directory and port; returns
    once it accepts connections (a replica: once it streams again)."""
    paths = StatePaths(_resolve(state_dir))
    with _locked(paths):
        manifest = _ready_manifest(paths)
        if any(r.name == f"postgres:{role}" and r.is_alive() for r in manifest.processes):
            return
        launch = _Launch(paths, keep=True, timeout=timeout, report=_log_progress)
        launch.manifest = manifest
        data_dir = paths.primary_data if role == "primary" else paths.replica_data
        child = launch.spawn_postgres(f"postgres:{role}", data_dir, f"postgres-{role}")
        dsn = server_dsn(manifest.ports[f"postgres_{role}"])
        launch.wait_for(
            f"PostgreSQL {role}",
            partial(postgres_accepts, dsn),
            child=child,
            log=f"postgres-{role}",
        )
        if role == "replica" and manifest.postgres_replica != manifest.postgres_primary:
            launch.wait_for(
                "PostgreSQL replica streaming",
                lambda: replica_streaming(manifest.postgres_primary, manifest.postgres_replica),
                child=child,
                log="postgres-replica",
            )


def fail_over(*, state_dir: Path | None = None, timeout: float = READY_TIMEOUT) -> None:
    """Make the replica the primary, the way an operator fails over the stack:

    1. fence the old primary (`pg_ctl stop -m fast`: it takes no write again, and a fast
       shutdown waits until its WAL senders have shipped every commit to the replica),
    2. promote the replica (`pg_ctl promote`) and wait until it leaves recovery,
    3. record it as both primary and replica of the stack (no replica is left),
    4. restart every service that owns a database, so it connects to the new primary.

    The stack has no replica afterwards: its health check (replica streaming) fails, so fail
    over only a stack of a test's own. Replication is asynchronous: had the primary crashed
    instead (`-m immediate`), commits it had not yet shipped would be lost with it.
    """
    paths = StatePaths(_resolve(state_dir))
    stop_postgres("primary", state_dir=paths.root, mode="fast")
    with _locked(paths):
        manifest = _ready_manifest(paths)
        logfile = paths.log("postgres-replica")
        done = processes.run(
            [str(_pg_binary("pg_ctl")), "promote", "-D", str(paths.replica_data), "-w"],
            log=logfile,
            cwd=paths.postgres,
            run_as=_postgres_account(),
            timeout=timeout,
        )
        if done.returncode != 0:
            raise StackError("pg_ctl promote of the replica failed" + _tail(logfile))
        promoted = manifest.postgres_replica
        wait_until(
            lambda: not _in_recovery(promoted),
            timeout=timeout,
            description="the promoted replica to leave recovery",
            ignored_exceptions=PROBE_ERRORS,
        )
        manifest.postgres_primary = promoted
        manifest.ports["postgres_primary"] = manifest.ports["postgres_replica"]
        manifest.processes = [
            replace(r, name="postgres:primary") if r.name == "postgres:replica" else r
            for r in manifest.processes
        ]
        write_manifest(paths, manifest)
    owners = [s.name for s in SERVICES if s.database is not None and s.name in manifest.services]
    for name in owners:  # their connections lead to the fenced primary: no use waiting
        stop_service(name, state_dir=paths.root, kill=True)
    for name in owners:
        start_service(name, state_dir=paths.root, timeout=timeout)


def _in_recovery(dsn: str) -> bool:
    with psycopg.connect(dsn, connect_timeout=2) as connection:
        row = connection.execute("SELECT pg_is_in_recovery()").fetchone()
    return bool(row and row[0])


@contextmanager
def services_held(*, exclusive: bool, state_dir: Path | None = None) -> Iterator[None]:
    """A lock between tests that stop services (exclusive) and tests that need every service up
    (shared), across processes such as xdist workers (preflight.rwlock: a waiting exclusive
    holder blocks newcomers, so a stream of shared holders cannot starve it)."""
    paths = StatePaths(_resolve(state_dir))
    with rwlock.held(paths.root.with_name(f"{paths.root.name}.services.lock"), exclusive=exclusive):
        yield


def status(*, state_dir: Path | None = None) -> StackInfo | None:
    """The live, healthy-at-start stack in this state dir, or None."""
    manifest = read_manifest(StatePaths(_resolve(state_dir)))
    if manifest is None or manifest.state != "ready" or not _is_live(manifest):
        return None
    return manifest.info()


def problems(*, state_dir: Path | None = None) -> list[str]:
    """What is wrong with the stack recorded in this state dir (empty if none or healthy)."""
    manifest = read_manifest(StatePaths(_resolve(state_dir)))
    if manifest is None or manifest.state == "stopping":
        return []
    found = [f"{record.name} (pid {record.pid}) exited" for record in _exited(manifest)]
    if manifest.owner is not None and not manifest.owner.is_alive():
        found.append(f"owner process {manifest.owner.pid} exited")
    return found


@contextmanager
def running(
    *,
    keep: bool = False,
    state_dir: Path | None = None,
    services: Sequence[str] | None = None,
    timeout: float = READY_TIMEOUT,
    progress: Progress | None = None,
    with_prometheus: bool = False,
    tracing: bool = True,
) -> Iterator[StackInfo]:
    """A started stack, stopped on leaving the block, on SIGINT/SIGTERM/SIGHUP and at exit
    (unless `keep`)."""
    paths = StatePaths(_resolve(state_dir))
    started = partial(
        start,
        state_dir=paths.root,
        services=services,
        timeout=timeout,
        progress=progress,
        with_prometheus=with_prometheus,
        tracing=tracing,
    )
    if keep:
        yield started(keep=True)
        return
    with _termination_raises_system_exit():
        info = started()

        def stop_this_run() -> None:
            _stop(paths, run_id=info.run_id)

        atexit.register(stop_this_run)
        try:
            yield info
        finally:
            with _termination_ignored():
                stop_this_run()
            atexit.unregister(stop_this_run)


def _ready_manifest(paths: StatePaths) -> Manifest:
    manifest = read_manifest(paths)
    if manifest is None or manifest.state != "ready":
        raise StackError(f"no stack is running in {paths.root}")
    return manifest


def read_manifest(paths: StatePaths) -> Manifest | None:
    try:
        return Manifest.model_validate_json(paths.manifest.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError as error:
        log.warning("ignoring unreadable stack manifest %s: %s", paths.manifest, error)
        return None


def write_manifest(paths: StatePaths, manifest: Manifest) -> None:
    draft = paths.manifest.with_suffix(".json.tmp")
    draft.write_text(manifest.model_dump_json(indent=2))
    draft.replace(paths.manifest)


def with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


def asyncpg_url(dsn: str) -> str:
    """The SQLAlchemy URL of a DSN; on loopback without TLS (asyncpg would try TLS first)."""
    _, _, rest = dsn.partition("://")
    url = f"postgresql+asyncpg://{rest}"
    if urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1") and "ssl=" not in url:
        url += ("&" if "?" in url else "?") + "ssl=disable"
    return url


class _Launch:
    """One start-up of the stack, recording every process in the manifest as it is spawned."""

    def __init__(self, paths: StatePaths, *, keep: bool, timeout: float, report: Progress) -> None:
        self.paths = paths
        self.keep = keep
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.report = report
        self.run_as = _postgres_account()
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.manifest = Manifest(
            state_dir=str(paths.root),
            run_id=uuid.uuid4().hex[:12],
            started_at=datetime.now(UTC),
            owner=ProcessRecord.of("owner", os.getpid()),
            jwt_private_key=new_rs256_private_key(),
            jwt_rs256_kid=RS256_KID,
        )

    def run(
        self,
        selected: Sequence[ServiceSpec],
        external: ExternalServers,
        *,
        with_prometheus: bool = False,
        tracing: bool = True,
    ) -> StackInfo:
        self.prepare_state_dir(local_postgres=external.postgres_primary is None)
        write_manifest(self.paths, self.manifest)
        if external.postgres_primary is None or external.redis_url is None:
            _probe_docker()
        if any(service.database is not None for service in selected):
            _import_in_background(MIGRATION_MODULES)
        ports = iter(free_ports(3 + len(selected)))
        redis_child = None
        if external.redis_url is None:
            redis_url, redis_child = self.start_redis(next(ports))
        else:
            redis_url = external.redis_url
        self.manifest.redis_url = redis_url
        if external.postgres_primary is None:
            self.start_postgres_cluster(selected, next(ports), next(ports))
        else:
            self.use_external_postgres(selected, external)
        if tracing:
            self.start_trace_receiver(free_port())
        self.start_services(selected, [next(ports) for _ in selected])
        self.wait_for("Redis", lambda: redis_answers(redis_url), child=redis_child, log="redis")
        for service in selected:
            url = self.manifest.services[service.name]
            self.wait_for(
                f"service {service.name}",
                partial(service_ready, url),
                child=self.children[f"service:{service.name}"],
                log=service.name,
            )
        if with_prometheus:
            self.start_prometheus(free_port())
        self.manifest.state = "ready"
        if self.keep:
            self.manifest.owner = None
        write_manifest(self.paths, self.manifest)
        return self.manifest.info()

    def prepare_state_dir(self, *, local_postgres: bool) -> None:
        self.paths.root.mkdir(parents=True, exist_ok=True)
        self.paths.root.chmod(0o755)
        shutil.rmtree(self.paths.logs, ignore_errors=True)
        self.paths.logs.mkdir()
        if not local_postgres:
            return
        self.paths.postgres.mkdir(mode=0o700)
        self.manifest.data_dirs.append(str(self.paths.postgres))
        if self.run_as is not None:
            _check_reachable(self.paths.root, self.run_as)
            os.chown(self.paths.postgres, self.run_as.uid, self.run_as.gid)

    def start_redis(self, port: int) -> tuple[str, subprocess.Popen[bytes]]:
        self.report("starting Redis")
        server = _binary("redis-server", os.environ.get("PREFLIGHT_REDIS_SERVER"))
        self.paths.redis.mkdir(exist_ok=True)
        if str(self.paths.redis) not in self.manifest.data_dirs:
            self.manifest.data_dirs.append(str(self.paths.redis))
        argv = [
            server,
            *("--port", str(port), "--bind", LOOPBACK, "--save", ""),
            # The append-only log keeps the event streams across a Redis restart.
            *("--appendonly", "yes", "--appendfsync", "everysec"),
            *("--daemonize", "no", "--pidfile", str(self.paths.redis / "redis.pid")),
            *("--dir", str(self.paths.redis)),
        ]
        child = self.spawn("redis", argv, log="redis", death_signal=signal.SIGTERM)
        self.manifest.ports["redis"] = port
        return f"redis://{LOOPBACK}:{port}/0", child

    def start_trace_receiver(self, port: int) -> None:
        self.report("starting the trace receiver")
        argv = [sys.executable, "-m", "preflight.traces", "--host", LOOPBACK, "--port", str(port)]
        child = self.spawn(
            "traces", argv, log="traces", death_signal=signal.SIGTERM, cwd=project_root()
        )
        self.manifest.ports["traces"] = port
        self.manifest.traces_url = f"http://{LOOPBACK}:{port}"
        self.wait_for("trace receiver", partial(_answers, self.manifest.traces_url), child=child)

    def start_prometheus(self, port: int) -> None:
        self.report("starting Prometheus")
        binary = _binary("prometheus", os.environ.get("PREFLIGHT_PROMETHEUS"))
        directory = self.paths.root / "prometheus"
        directory.mkdir(exist_ok=True)
        self.manifest.data_dirs.append(str(directory))
        config = prometheus.write_configuration(
            directory / "prometheus.yml", self.manifest.services
        )
        argv = prometheus.command(binary, config, directory / "data", LOOPBACK, port)
        child = self.spawn("prometheus", argv, log="prometheus", death_signal=signal.SIGTERM)
        self.manifest.ports["prometheus"] = port
        self.manifest.prometheus_url = f"http://{LOOPBACK}:{port}"
        api = prometheus.PrometheusApi(self.manifest.prometheus_url)
        self.wait_for("Prometheus", api.ready, child=child, log="prometheus")

    def start_postgres_cluster(
        self, selected: Sequence[ServiceSpec], primary_port: int, replica_port: int
    ) -> None:
        primary = server_dsn(primary_port)
        self.manifest.postgres_primary = primary
        self.manifest.postgres_replica = server_dsn(replica_port)
        self.manifest.ports |= {"postgres_primary": primary_port, "postgres_replica": replica_port}
        self.report("initialising PostgreSQL")
        self.run_postgres_tool(
            "initdb",
            [
                *("-D", str(self.paths.primary_data), "-A", "trust", "-U", POSTGRES_USER),
                *("--no-sync", "-E", "UTF8", "--locale=C", "--no-instructions"),
            ],
            log="postgres-primary",
        )
        configure_primary(self.paths.primary_data, primary_port, self.socket_dir(primary_port))
        self.report("starting the PostgreSQL primary")
        child = self.spawn_postgres("postgres:primary", self.paths.primary_data, "postgres-primary")
        self.wait_for(
            "PostgreSQL primary",
            partial(postgres_accepts, primary),
            child=child,
            log="postgres-primary",
        )
        backup = self.begin_base_backup(primary_port)
        self.create_databases(primary, selected)
        self.report("waiting for the base backup")
        self.finish(backup, "pg_basebackup", log="postgres-replica")
        configure_replica(self.paths.replica_data, replica_port)
        self.report("starting the PostgreSQL replica")
        replica = self.spawn_postgres(
            "postgres:replica", self.paths.replica_data, "postgres-replica"
        )
        self.wait_for(
            "PostgreSQL replica streaming",
            lambda: replica_streaming(primary, self.manifest.postgres_replica),
            child=replica,
            log="postgres-replica",
        )

    def use_external_postgres(
        self, selected: Sequence[ServiceSpec], external: ExternalServers
    ) -> None:
        primary = external.postgres_primary or ""
        replica = external.postgres_replica or primary
        self.manifest.postgres_primary = primary
        self.manifest.postgres_replica = replica
        self.wait_for("PostgreSQL (PREFLIGHT_POSTGRES_DSN)", lambda: postgres_accepts(primary))
        if replica != primary:
            self.wait_for(
                "PostgreSQL replica (PREFLIGHT_POSTGRES_REPLICA_DSN)",
                lambda: postgres_accepts(replica),
            )
        self.create_databases(primary, selected)

    def create_databases(self, primary: str, selected: Sequence[ServiceSpec]) -> None:
        databases = [s for s in selected if s.database is not None and s.migrates]
        if not databases:
            return
        self.report("creating and migrating the service databases")
        with psycopg.connect(primary, autocommit=True, connect_timeout=5) as connection:
            for service in databases:
                create_database(connection, service.database or "")
        from reference_services.platform.migrations import upgrade

        for service in databases:
            try:
                upgrade(service.name, with_database(primary, service.database or ""))
            except Exception as error:
                raise StackStartError(
                    f"migrating the {service.name} database failed: {error}"
                ) from error

    def begin_base_backup(self, primary_port: int) -> subprocess.Popen[bytes]:
        argv = [
            str(_pg_binary("pg_basebackup")),
            *("-h", LOOPBACK, "-p", str(primary_port), "-U", POSTGRES_USER),
            *("-D", str(self.paths.replica_data), "-R", "-X", "stream", "-c", "fast"),
            *("-C", "-S", REPLICATION_SLOT, "--no-sync"),
        ]
        return processes.spawn(
            argv,
            log=self.paths.log("postgres-replica"),
            cwd=self.paths.postgres,
            run_as=self.run_as,
            death_signal=signal.SIGKILL,
        )

    def start_services(self, selected: Sequence[ServiceSpec], ports: Sequence[int]) -> None:
        urls = {
            s.name: f"http://{LOOPBACK}:{port}" for s, port in zip(selected, ports, strict=True)
        }
        self.manifest.services = urls
        for service, port in zip(selected, ports, strict=True):
            self.start_service(service, port, urls)

    def start_service(
        self,
        service: ServiceSpec,
        port: int,
        urls: dict[str, str],
        overrides: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        self.report(f"starting service {service.name}")
        self.manifest.ports[f"service:{service.name}"] = port
        argv = uvicorn_command(service, port)
        env = (
            os.environ
            | {"PYTHONUNBUFFERED": "1"}
            | self.service_env(service, urls)
            | dict(overrides or {})
        )
        return self.spawn(
            f"service:{service.name}",
            argv,
            log=service.name,
            death_signal=signal.SIGTERM,
            env=env,
            cwd=project_root(),
        )

    def service_env(self, service: ServiceSpec, urls: dict[str, str]) -> dict[str, str]:
        prefix = service.env_prefix
        env = {name: value for name, value in service.env if name not in os.environ} | {
            f"{prefix}REDIS_URL": self.manifest.redis_url,
            f"{prefix}RUN_ID": self.run_id,
            f"{prefix}JWT_SECRET": self.manifest.jwt_secret,
            f"{prefix}WEBHOOK_SECRET": self.manifest.webhook_secret,
        }
        if self.manifest.jwt_private_key:
            public = rs256_public_key(self.manifest.jwt_private_key)
            env[f"{prefix}JWT_PUBLIC_KEYS"] = json.dumps({self.manifest.jwt_rs256_kid: public})
        if self.manifest.traces_url:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = self.manifest.traces_url
        if service.service_roles:
            env[f"{prefix}SERVICE_TOKEN"] = issue_token(
                self.manifest.jwt_secret,
                subject=f"service:{service.name}",
                roles=service.service_roles,
                plants=[ALL_PLANTS],
                ttl_s=SERVICE_TOKEN_TTL_S,
            )
        if service.database is not None:
            info = self.manifest.info()
            env[f"{prefix}DATABASE_URL"] = asyncpg_url(info.database_dsn(service.database))
            env[f"{prefix}REPLICA_DATABASE_URL"] = asyncpg_url(
                info.database_dsn(service.database, replica=True)
            )
        for name, url in urls.items():
            if name != service.name:
                env[f"{prefix}{name.upper().replace('-', '_')}_URL"] = url
        return env

    @property
    def run_id(self) -> str:
        return self.manifest.run_id

    def socket_dir(self, port: int) -> Path | None:
        socket = self.paths.postgres / f".s.PGSQL.{port}"
        return self.paths.postgres if len(str(socket)) <= SOCKET_PATH_LIMIT else None

    def run_postgres_tool(self, tool: str, args: Sequence[str], *, log: str) -> None:
        argv = [str(_pg_binary(tool)), *args]
        logfile = self.paths.log(log)
        done = processes.run(
            argv, log=logfile, cwd=self.paths.postgres, run_as=self.run_as, timeout=self.remaining()
        )
        if done.returncode != 0:
            raise StackStartError(
                f"{tool} failed with exit code {done.returncode}" + _tail(logfile)
            )

    def spawn_postgres(self, name: str, data_dir: Path, log: str) -> subprocess.Popen[bytes]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        return self.spawn(
            name,
            [str(_pg_binary("postgres")), "-D", str(data_dir)],
            log=log,
            death_signal=signal.SIGINT,
            env=env,
            cwd=self.paths.postgres,
            run_as=self.run_as,
        )

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log: str,
        death_signal: int,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        run_as: RunAs | None = None,
    ) -> subprocess.Popen[bytes]:
        logfile = self.paths.log(log)
        child = processes.spawn(
            argv,
            log=logfile,
            env=env,
            cwd=cwd,
            run_as=run_as,
            death_signal=None if self.keep else death_signal,
        )
        self.manifest.processes.append(ProcessRecord.of(name, child.pid))
        self.manifest.logs[name] = str(logfile)
        write_manifest(self.paths, self.manifest)
        self.children[name] = child
        return child

    def finish(self, child: subprocess.Popen[bytes], what: str, *, log: str) -> None:
        logfile = self.paths.log(log)
        try:
            code = child.wait(timeout=self.remaining())
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            raise StackStartError(f"{what} did not finish in time" + _tail(logfile)) from None
        finally:
            processes.reap(child.pid)
        if code != 0:
            raise StackStartError(f"{what} failed with exit code {code}" + _tail(logfile))

    def remaining(self) -> float:
        return max(self.deadline - time.monotonic(), 0.1)

    def wait_for(
        self,
        component: str,
        check: Callable[[], bool],
        *,
        child: subprocess.Popen[bytes] | None = None,
        log: str | None = None,
    ) -> None:
        logfile = self.paths.log(log) if log is not None else None

        def healthy() -> bool:
            if child is not None and child.poll() is not None:
                raise StackStartError(
                    f"{component} exited with code {child.returncode} while starting"
                    + _tail(logfile)
                )
            return check()

        try:
            wait_until(
                healthy,
                timeout=self.remaining(),
                interval=0.05,
                description=component,
                ignored_exceptions=PROBE_ERRORS,
            )
        except WaitTimeout as timeout:
            reason = f": {timeout.last_error}" if timeout.last_error is not None else ""
            raise StackStartError(
                f"{component} did not become ready within {self.timeout:g}s{reason}"
                + _tail(logfile)
            ) from None


PROBE_ERRORS: tuple[type[Exception], ...] = (
    NotReady,
    OSError,
    psycopg.Error,
    redis.RedisError,
    httpx.HTTPError,
)


def server_dsn(port: int) -> str:
    return f"postgresql://{POSTGRES_USER}@{LOOPBACK}:{port}/postgres"


def uvicorn_command(service: ServiceSpec, port: int) -> list[str]:
    return [
        *(sys.executable, "-m", "uvicorn", "--factory", service.app),
        *("--host", LOOPBACK, "--port", str(port)),
        *("--log-level", "warning", "--no-access-log"),
    ]


def configure_primary(data_dir: Path, port: int, socket_dir: Path | None) -> None:
    settings = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(port),
        "unix_socket_directories": f"'{socket_dir}'" if socket_dir is not None else "''",
        "wal_level": "replica",
        "max_wal_senders": "10",
        "max_replication_slots": "10",
        "hot_standby": "on",
        "hot_standby_feedback": "on",
        "fsync": "off",
        "full_page_writes": "off",
        "synchronous_commit": "on",
        "max_connections": "200",
        "shared_buffers": "128MB",
    }
    _append_settings(data_dir / "postgresql.conf", settings)
    (data_dir / "pg_hba.conf").write_text(
        "local all all trust\n"
        "host all all 127.0.0.1/32 trust\n"
        "local replication all trust\n"
        "host replication all 127.0.0.1/32 trust\n"
    )


def configure_replica(data_dir: Path, port: int) -> None:
    _append_settings(data_dir / "postgresql.conf", {"port": str(port)})


def _append_settings(config: Path, settings: dict[str, str]) -> None:
    lines = "".join(f"{name} = {value}\n" for name, value in settings.items())
    with config.open("a") as file:
        file.write(f"\n# preflight embedded stack\n{lines}")


def create_database(connection: psycopg.Connection[tuple[object, ...]], name: str) -> None:
    exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if exists is None:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def postgres_accepts(dsn: str) -> bool:
    with psycopg.connect(dsn, connect_timeout=2) as connection:
        connection.execute("SELECT 1")
    return True


def replica_streaming(primary: str, replica: str) -> bool:
    with psycopg.connect(primary, connect_timeout=2) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
        ).fetchone()
    if row is None or not row[0]:
        raise NotReady("no streaming replica in pg_stat_replication on the primary")
    with psycopg.connect(replica, connect_timeout=2) as connection:
        recovery = connection.execute("SELECT pg_is_in_recovery()").fetchone()
    if recovery is None or not recovery[0]:
        raise NotReady("the replica is not in recovery")
    return True


def redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    finally:
        client.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def service_ready(url: str) -> bool:
    response = httpx.get(f"{url}/health/ready", timeout=2.0)
    if response.status_code != 200:
        raise NotReady(f"/health/ready answered {response.status_code}: {response.text[:300]}")
    return True


def _stop(paths: StatePaths, *, run_id: str | None) -> None:
    if not paths.root.exists():
        return
    with _locked(paths):
        manifest = read_manifest(paths)
        if run_id is not None and (manifest is None or manifest.run_id != run_id):
            return
        _tear_down(paths, manifest)


def _tear_down(paths: StatePaths, manifest: Manifest | None) -> None:
    """End every process the manifest (or a leftover pid file) names and remove the data dirs."""
    if manifest is not None and paths.manifest.exists():
        write_manifest(paths, manifest.model_copy(update={"state": "stopping"}))
    plan = [(process, _stop_signals(record)) for record, process in _live(manifest)]
    known = {process.pid for process, _ in plan}
    plan += [(p, signals) for p, signals in _pidfile_processes(paths) if p.pid not in known]
    survivors = processes.end_processes(plan, grace=STOP_GRACE)
    if survivors:
        pids = ", ".join(str(p.pid) for p in survivors)
        raise StackError(f"could not stop processes {pids} of the stack in {paths.root}")
    for data_dir in [paths.postgres, paths.redis]:
        shutil.rmtree(data_dir, ignore_errors=True)
    paths.manifest.unlink(missing_ok=True)


def _abort(paths: StatePaths, manifest: Manifest) -> None:
    try:
        _tear_down(paths, manifest)
    except StackError as error:
        log.error("cleaning up after a failed start: %s", error)


def _live(manifest: Manifest | None) -> list[tuple[ProcessRecord, psutil.Process]]:
    if manifest is None:
        return []
    found = [(record, record.find()) for record in manifest.processes]
    return [(record, process) for record, process in found if process is not None]


def _exited(manifest: Manifest) -> list[ProcessRecord]:
    return [record for record in manifest.processes if not record.is_alive()]


def _stop_signals(record: ProcessRecord) -> tuple[int, ...]:
    if record.name.startswith("postgres"):
        return (signal.SIGINT, signal.SIGQUIT)
    return (signal.SIGTERM,)


def _pidfile_processes(paths: StatePaths) -> list[tuple[psutil.Process, tuple[int, ...]]]:
    """Servers still running from this state dir that no manifest names any more."""
    found: list[tuple[psutil.Process, tuple[int, ...]]] = []
    for data_dir in (paths.primary_data, paths.replica_data):
        process = _process_from_pidfile(data_dir / "postmaster.pid")
        if process is not None and str(data_dir) in _cmdline(process):
            found.append((process, (signal.SIGINT, signal.SIGQUIT)))
    process = _process_from_pidfile(paths.redis / "redis.pid")
    if process is not None and _cwd(process) == str(paths.redis):
        found.append((process, (signal.SIGTERM,)))
    return found


def _process_from_pidfile(pidfile: Path) -> psutil.Process | None:
    try:
        pid = int(pidfile.read_text().split()[0])
        return psutil.Process(pid)
    except (OSError, ValueError, IndexError, psutil.Error):
        return None


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def _cwd(process: psutil.Process) -> str:
    try:
        return process.cwd()
    except psutil.Error:
        return ""


def _is_live(manifest: Manifest) -> bool:
    if manifest.state == "stopping":
        return False
    if manifest.owner is not None and not manifest.owner.is_alive():
        return False
    return not _exited(manifest)


def _already_running_message(manifest: Manifest, paths: StatePaths) -> str:
    owner = "kept running" if manifest.owner is None else f"owned by pid {manifest.owner.pid}"
    return (
        f"a stack is already running in {paths.root} (run {manifest.run_id}, {owner}); "
        "stop it with `preflight stack down` or reuse it"
    )


@contextmanager
def _locked(paths: StatePaths) -> Iterator[None]:
    paths.lock.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(paths.lock), timeout=LOCK_TIMEOUT):
            yield
    except LockTimeout:
        raise StackBusy(
            f"another preflight process has held {paths.lock} for over {LOCK_TIMEOUT:g}s"
        ) from None


@contextmanager
def _termination_raises_system_exit() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def exit_on_signal(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    handled = [s for s in (signal.SIGTERM, signal.SIGHUP) if signal.getsignal(s) != signal.SIG_IGN]
    previous = {sig: signal.signal(sig, exit_on_signal) for sig in handled}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def _termination_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _resolve(state_dir: Path | None) -> Path:
    return state_dir.expanduser().resolve() if state_dir is not None else default_state_dir()


def _select_services(names: Sequence[str] | None) -> list[ServiceSpec]:
    if names is None:
        return list(SERVICES)
    try:
        return [spec(name) for name in dict.fromkeys(names)]
    except KeyError as error:
        raise StackConfigError(str(error.args[0])) from None


def _pg_binary(tool: str) -> Path:
    bin_dir = Path(os.environ.get("PREFLIGHT_PG_BIN_DIR") or PG_BIN_DIR)
    binary = bin_dir / tool
    if not binary.is_file():
        raise StackConfigError(
            f"PostgreSQL binary {binary} not found: install PostgreSQL 15, set "
            "PREFLIGHT_PG_BIN_DIR, or point PREFLIGHT_POSTGRES_DSN at an existing server"
        )
    return binary


def _binary(name: str, override: str | None) -> str:
    found = override or shutil.which(name)
    if not found:
        raise StackConfigError(
            f"{name} not found on PATH: install it or point PREFLIGHT_REDIS_URL at a server"
        )
    return found


def _check_reachable(path: Path, account: RunAs) -> None:
    """PostgreSQL runs as `account`: every directory above its data must let it through."""
    for directory in [path, *path.parents]:
        mode = directory.stat()
        if mode.st_uid == account.uid:
            allowed = bool(mode.st_mode & stat.S_IXUSR)
        elif mode.st_gid == account.gid:
            allowed = bool(mode.st_mode & stat.S_IXGRP)
        else:
            allowed = bool(mode.st_mode & stat.S_IXOTH)
        if not allowed:
            raise StackConfigError(
                f"PostgreSQL runs as the {account.user!r} user and cannot enter {directory} "
                f"(mode {stat.S_IMODE(mode.st_mode):o}): choose a PREFLIGHT_STATE_DIR under a "
                "directory others can traverse"
            )


def _postgres_account() -> RunAs | None:
    if not processes.running_as_root():
        return None
    try:
        return RunAs.named(POSTGRES_USER)
    except KeyError:
        raise StackConfigError(
            f"running as root, PostgreSQL needs a {POSTGRES_USER!r} user to run as: create one "
            "or run preflight as an unprivileged user"
        ) from None


def _probe_docker() -> None:
    if importlib.util.find_spec("docker") is None:
        log.info("no Docker engine: using local binaries")
        return
    try:
        importlib.import_module("docker").from_env(timeout=2).ping()
    except Exception:
        log.info("no Docker engine: using local binaries")
    else:
        log.info("Docker engine found; the embedded stack still uses local binaries")


def _import_in_background(modules: Sequence[str]) -> None:
    """Import slow modules while PostgreSQL initialises, so that migrating starts at once."""

    def import_all() -> None:
        for module in modules:
            with contextlib.suppress(Exception):
                importlib.import_module(module)

    threading.Thread(target=import_all, name="preflight-warm-imports", daemon=True).start()


def _log_progress(step: str) -> None:
    log.info("stack: %s", step)


def _tail(logfile: Path | None, lines: int = LOG_TAIL_LINES) -> str:
    if logfile is None:
        return ""
    try:
        text = logfile.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    if not text:
        return f"\n(log {logfile} is empty)"
    return f"\n--- last lines of {logfile} ---\n" + "\n".join(text)
