"""Child processes of the harness: spawned to die with it, found again by pid and start time,
and ended tree by tree with escalating signals."""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

PR_SET_PDEATHSIG = 1
CREATE_TIME_TOLERANCE = 0.05

_libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ProcessRecord:
    """A process as recorded in a manifest: the pid alone could be reused by another process."""

    name: str
    pid: int
    create_time: float

    @classmethod
    def of(cls, name: str, pid: int) -> ProcessRecord:
        return cls(name=name, pid=pid, create_time=psutil.Process(pid).create_time())

    def find(self) -> psutil.Process | None:
        """The live process this record describes, or None if it exited or the pid was reused."""
        try:
            process = psutil.Process(self.pid)
            if abs(process.create_time() - self.create_time) > CREATE_TIME_TOLERANCE:
                return None
            if process.status() == psutil.STATUS_ZOMBIE:
                reap(self.pid)
                return None
        except psutil.Error:
            return None
        return process

    def is_alive(self) -> bool:
        return self.find() is not None


@dataclass(frozen=True)
class RunAs:
    """The unprivileged account a child runs as when the harness runs as root."""

    user: str
    uid: int
    gid: int

    @classmethod
    def named(cls, user: str) -> RunAs:
        entry = pwd.getpwnam(user)
        return cls(user=user, uid=entry.pw_uid, gid=entry.pw_gid)


def running_as_root() -> bool:
    return os.geteuid() == 0


def die_with_parent(sig: int) -> Callable[[], None] | None:
    """A preexec_fn that makes the child receive `sig` when the spawning thread dies.

    Linux ties the parent-death signal to the thread that forked, so it is only used from the
    main thread; elsewhere the caller must stop its children itself.
    """
    if _libc is None or threading.current_thread() is not threading.main_thread():
        return None
    libc = _libc
    parent = os.getpid()

    def set_parent_death_signal() -> None:
        libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return set_parent_death_signal


def spawn(
    argv: Sequence[str],
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    run_as: RunAs | None = None,
    death_signal: int | None = signal.SIGTERM,
) -> subprocess.Popen[bytes]:
    """Start a long-lived child in its own session (terminal Ctrl-C reaches only the harness),
    output appended to `log`, optionally dying with the harness."""
    with log.open("ab") as output:
        child = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=die_with_parent(death_signal) if death_signal is not None else None,
            user=run_as.uid if run_as else None,
            group=run_as.gid if run_as else None,
            extra_groups=[] if run_as else None,
        )
    _children[child.pid] = child
    return child


def run(
    argv: Sequence[str],
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    run_as: RunAs | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run a short command to completion, output appended to `log`."""
    with log.open("ab") as output:
        return subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            timeout=timeout,
            check=False,
            preexec_fn=die_with_parent(signal.SIGKILL),
            user=run_as.uid if run_as else None,
            group=run_as.gid if run_as else None,
            extra_groups=[] if run_as else None,
        )


def reap(pid: int) -> None:
    """Collect the exit status of a child of this process, if it is one."""
    child = _children.pop(pid, None)
    if child is not None:
        child.poll()
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def end_processes(
    plan: Sequence[tuple[psutil.Process, Sequence[int]]], *, grace: float = 5.0
) -> list[psutil.Process]:
    """Send each process its signals in turn, waiting up to `grace` seconds after each round,
    then SIGKILL whatever is left of every tree. Returns the processes that would not die."""
    descendants = [child for process, _ in plan for child in _children_of(process)]
    rounds = max((len(signals) for _, signals in plan), default=0)
    for round_index in range(rounds):
        alive = [process for process, _ in plan if _is_running(process)]
        if not alive:
            break
        for process, signals in plan:
            if round_index < len(signals) and _is_running(process):
                _send(process, signals[round_index])
        psutil.wait_procs(alive, timeout=grace)
    leftovers = [p for p in [*(process for process, _ in plan), *descendants] if _is_running(p)]
    for process in leftovers:
        _send(process, signal.SIGKILL)
    _, survivors = psutil.wait_procs(leftovers, timeout=grace)
    for process in [*(process for process, _ in plan), *descendants]:
        reap(process.pid)
    return list(survivors)


def _children_of(process: psutil.Process) -> list[psutil.Process]:
    try:
        return process.children(recursive=True)
    except psutil.Error:
        return []


def _is_running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _send(process: psutil.Process, sig: int) -> None:
    with contextlib.suppress(psutil.Error):
        process.send_signal(sig)
