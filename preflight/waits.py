"""Poll a condition until it holds or a deadline passes: the harness's replacement for sleeps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """The condition did not hold before the deadline."""

    def __init__(
        self, description: str, timeout: float, last_error: BaseException | None = None
    ) -> None:
        message = f"timed out after {timeout:g}s waiting for {description}"
        if last_error is not None:
            message += f" (last error: {last_error!r})"
        super().__init__(message)
        self.description = description
        self.timeout = timeout
        self.last_error = last_error


def wait_until(
    predicate: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.05,
    description: str,
    ignored_exceptions: tuple[type[Exception], ...] = (),
) -> T:
    """Call `predicate` until it returns a truthy value, and return that value.

    Exceptions listed in `ignored_exceptions` count as "not yet"; any other propagates at once.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = predicate()
        except ignored_exceptions as error:
            last_error = error
        else:
            if result:
                return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(description, timeout, last_error)
        time.sleep(min(interval, remaining))


async def wait_until_async(
    predicate: Callable[[], Awaitable[T | None]],
    *,
    timeout: float,  # noqa: ASYNC109 (same signature as wait_until)
    interval: float = 0.05,
    description: str,
    ignored_exceptions: tuple[type[Exception], ...] = (),
) -> T:
    """Await `predicate()` until it returns a truthy value, and return that value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = await predicate()
        except ignored_exceptions as error:
            last_error = error
        else:
            if result:
                return result
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise WaitTimeout(description, timeout, last_error)
        await asyncio.sleep(min(interval, remaining))
