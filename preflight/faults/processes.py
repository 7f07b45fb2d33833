"""Process faults on the embedded stack, each a context manager that heals on leaving its block,
however it is left (an assertion failing inside, a KeyboardInterrupt):

    with service_paused("mes", state_dir):        # SIGSTOP the MES; SIGCONT after
    with service_killed("reporting", state_dir):  # SIGKILL (no shutdown code runs); restarted after
    with primary_crashed(state_dir):              # pg_ctl stop -m immediate; started (WAL recovery)
    with replica_stopped(state_dir):              # pg_ctl stop -m fast; started, streaming again
    with redis_paused(redis_url, 3):              # CLIENT PAUSE ALL for 3 s; answering after
    redis_restarted(state_dir)                    # SIGTERM + start on the same port and data
    replica_promoted(state_dir)                   # fail over: one way, a stack of the test's own

Each yields a `Fault` that records when it started and when it healed, so a test can report the
recovery time (healed -> the first successful operation after it).
"""

import contextlib
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import redis

from preflight import stack


@dataclass
class Fault:
    """What was done, and when (monotonic clock) it began and ended."""

    name: str
    started: float = field(default_factory=time.monotonic)
    healed: float | None = None

    def heal(self) -> None:
        self.healed = time.monotonic()

    @property
    def duration_s(self) -> float:
        return (self.healed or time.monotonic()) - self.started


def _signal_tree(processes: list[psutil.Process], sig: int) -> None:
    for process in processes:
        with contextlib.suppress(psutil.Error):
            for child in process.children(recursive=True):
                child.send_signal(sig)
            process.send_signal(sig)


@contextlib.contextmanager
def service_paused(name: str, state_dir: Path) -> Iterator[Fault]:
    """The service's processes stopped (SIGSTOP): connections stay open, nothing answers."""
    paused = stack.service_processes(name, state_dir=state_dir)
    if not paused:
        raise stack.StackError(f"service {name} is not running")
    fault = Fault(f"{name} paused (SIGSTOP)")
    _signal_tree(paused, signal.SIGSTOP)
    try:
        yield fault
    finally:
        _signal_tree(paused, signal.SIGCONT)
        fault.heal()


@contextlib.contextmanager
def service_killed(
    name: str, state_dir: Path, env: dict[str, str] | None = None
) -> Iterator[Fault]:
    """The service SIGKILLed (a crash), started again on leaving (with `env` overrides)."""
    stack.stop_service(name, state_dir=state_dir, kill=True)
    fault = Fault(f"{name} killed (SIGKILL)")
    try:
        yield fault
    finally:
        stack.start_service(name, state_dir=state_dir, env=env)
        fault.heal()


@contextlib.contextmanager
def _postgres_stopped(
    role: stack.PostgresRole, mode: str, name: str, state_dir: Path
) -> Iterator[Fault]:
    """One PostgreSQL server stopped with `pg_ctl -m mode`; started again on leaving."""
    stack.stop_postgres(role, state_dir=state_dir, mode=mode)
    fault = Fault(name)
    try:
        yield fault
    finally:
        stack.start_postgres(role, state_dir=state_dir)
        fault.heal()


def primary_crashed(state_dir: Path) -> contextlib.AbstractContextManager[Fault]:
    """The PostgreSQL primary stopped with `pg_ctl -m immediate` (no checkpoint, like a power
    cut); started again on leaving: it recovers from its WAL and the replica reconnects."""
    name = "PostgreSQL primary crashed (pg_ctl -m immediate)"
    return _postgres_stopped("primary", "immediate", name, state_dir)


def replica_stopped(state_dir: Path) -> contextlib.AbstractContextManager[Fault]:
    """The PostgreSQL replica stopped (`pg_ctl -m fast`); started and streaming on leaving."""
    return _postgres_stopped("replica", "fast", "PostgreSQL replica stopped", state_dir)


def replica_promoted(state_dir: Path) -> Fault:
    """Fail over to the replica (see `stack.fail_over`). There is no healing this: the stack is
    left with a primary and no replica, so use it on a stack of the test's own."""
    fault = Fault("PostgreSQL replica promoted (failover)")
    stack.fail_over(state_dir=state_dir)
    fault.heal()
    return fault


@contextlib.contextmanager
def redis_paused(url: str, seconds: float) -> Iterator[Fault]:
    """Every Redis client's commands held (CLIENT PAUSE ALL) for `seconds`.

    Redis holds even a CLIENT UNPAUSE while paused ALL, so the pause heals itself: it is given
    its length up front, and leaving the block waits until Redis answers again (at once, if
    the block outlasted the pause). Run the block's checks within `seconds`.
    """
    client = redis.Redis.from_url(url, socket_timeout=seconds + 5, single_connection_client=True)
    client.ping()
    fault = Fault(f"Redis paused {seconds:g} s (CLIENT PAUSE ALL)")
    client.client_pause(int(seconds * 1000), all=True)
    try:
        yield fault
    finally:
        client.ping()  # answered once the pause is over
        client.close()
        fault.heal()


def redis_restarted(state_dir: Path) -> Fault:
    """Redis stopped (SIGTERM, its append-only log flushed) and started on the same port."""
    fault = Fault("Redis restarted")
    stack.restart_redis(state_dir=state_dir)
    fault.heal()
    return fault
