"""The read model in PostgreSQL: applying one event in one transaction, and the figures."""

import uuid
from dataclasses import asdict, fields
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from reference_services.platform.db import Database
from reference_services.platform.events import Envelope
from reference_services.platform.inbox import first_delivery, new_events
from reference_services.reporting.adapters.tables import report_orders
from reference_services.reporting.service_layer.projection import OrderRow, project

_COLUMNS = [field.name for field in fields(OrderRow)]


async def apply_event(db: Database, event: Envelope, entry_id: str) -> bool:
    """Apply one event unless it was applied before (the inbox); True if it was applied now."""
    async with db.write() as write:
        if not await first_delivery(write.conn, event.id, event.type, entry_id):
            return False
        order_id = uuid.UUID(event.subject)
        current = await _locked_row(write.conn, order_id)
        row = asdict(project(current, event))
        statement = insert(report_orders).values(**row)
        await write.conn.execute(
            statement.on_conflict_do_update(
                index_elements=[report_orders.c.order_id],
                set_={name: statement.excluded[name] for name in _COLUMNS if name != "order_id"},
            )
        )
    return True


async def apply_events(db: Database, batch: list[tuple[Envelope, str]]) -> int:
    """Apply new events in one transaction (inbox, then each order's row once, locked in id
    order); returns how many were applied (the rest were applied before)."""
    async with db.write() as write:
        todo = await new_events(write.conn, batch)
        if not todo:
            return 0
        ids = sorted({uuid.UUID(event.subject) for event in todo})
        found = await write.conn.execute(
            select(report_orders)
            .where(report_orders.c.order_id.in_(ids))
            .order_by(report_orders.c.order_id)
            .with_for_update()
        )
        rows: dict[uuid.UUID, OrderRow] = {
            row.order_id: OrderRow(**{name: getattr(row, name) for name in _COLUMNS})
            for row in found
        }
        for event in todo:
            order_id = uuid.UUID(event.subject)
            rows[order_id] = project(rows.get(order_id), event)
        statement = insert(report_orders).values([asdict(rows[i]) for i in ids])
        await write.conn.execute(
            statement.on_conflict_do_update(
                index_elements=[report_orders.c.order_id],
                set_={name: statement.excluded[name] for name in _COLUMNS if name != "order_id"},
            )
        )
    return len(todo)


async def _locked_row(conn: AsyncConnection, order_id: uuid.UUID) -> OrderRow | None:
    found = (
        await conn.execute(
            select(report_orders).where(report_orders.c.order_id == order_id).with_for_update()
        )
    ).first()
    return None if found is None else OrderRow(**{name: getattr(found, name) for name in _COLUMNS})


async def order_row(conn: AsyncConnection, order_id: uuid.UUID) -> dict[str, Any] | None:
    found = (
        await conn.execute(select(report_orders).where(report_orders.c.order_id == order_id))
    ).first()
    return None if found is None else {str(c.name): getattr(found, c.name) for c in report_orders.c}
