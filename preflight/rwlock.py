"""A reader-writer lock across processes (xdist workers) on a file: many shared holders or one
exclusive holder, with a turnstile file in front so that a waiting exclusive holder blocks
newcomers and a stream of shared holders cannot starve it.

    with held(path, exclusive=False):  # tests that need every service up
        ...
    with held(path, exclusive=True):   # a test that stops one
        ...
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def turnstile_of(path: Path) -> Path:
    return path.with_name(f"{path.stem}.turnstile{path.suffix or '.lock'}")


@contextmanager
def held(path: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold the lock at `path` (created with its directory) shared or exclusive."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with turnstile_of(path).open("a") as gate, path.open("a") as handle:
        fcntl.flock(gate, fcntl.LOCK_EX)
        if exclusive:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
                fcntl.flock(gate, fcntl.LOCK_UN)
            return
        fcntl.flock(handle, fcntl.LOCK_SH)
        fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
