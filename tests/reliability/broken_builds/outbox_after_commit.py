"""A deliberately broken MES, for the reliability suite to catch: its outbox row is written
after the order's transaction committed, in a transaction of its own, half a second later
(the classic dual write: "save, then publish"). A crash in between loses the event of an order
the client was told exists.

    python -m uvicorn --factory tests.reliability.broken_builds.outbox_after_commit:app_factory
"""

import asyncio
from typing import Any

from fastapi import FastAPI

from reference_services.mes.adapters import orders_repository
from reference_services.mes.adapters.tables import outbox
from reference_services.mes.entrypoints.app import create_app
from reference_services.mes.settings import MesSettings
from reference_services.platform import outbox as outbox_rows
from reference_services.platform.db import Database
from reference_services.platform.outbox import OutboxEvent

LATE_BY_S = 0.5
_create_order = orders_repository.create_order
_pending: set[asyncio.Task[None]] = set()


async def create_order_then_publish(
    db: Database, order: Any, events: list[OutboxEvent], completion: Any = None
) -> int | None:
    commit_lsn = await _create_order(db, order, [], completion)
    if commit_lsn is not None:
        task = asyncio.get_running_loop().create_task(_append_later(db, events))
        _pending.add(task)
        task.add_done_callback(_pending.discard)
    return commit_lsn


async def _append_later(db: Database, events: list[OutboxEvent]) -> None:
    await asyncio.sleep(LATE_BY_S)
    async with db.write() as write:
        await outbox_rows.append(write.conn, outbox, events)


def app_factory() -> FastAPI:
    orders_repository.create_order = create_order_then_publish  # type: ignore[assignment]
    return create_app(MesSettings())
