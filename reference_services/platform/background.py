"""Long-running tasks (relays, stream consumers, delivery workers) that live as long as an app."""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

log = logging.getLogger(__name__)

Task = Callable[[], Coroutine[Any, Any, None]]


def run_with_app(app: FastAPI, *tasks: Task) -> None:
    """Start the tasks after the app's own start-up and cancel them before its shutdown.

    A task that ends with an error is logged and started again after a second: a worker must
    not die silently while its service still reports ready.
    """
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with inner(app) as state:
            running = [asyncio.create_task(_supervised(task)) for task in tasks]
            try:
                yield state
            finally:
                for task in running:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)

    app.router.lifespan_context = lifespan


async def _supervised(task: Task) -> None:
    while True:
        try:
            await task()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "background task %s failed; restarting it", getattr(task, "__qualname__", task)
            )
            await asyncio.sleep(1)
