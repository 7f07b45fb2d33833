"""Applying one MES event in one transaction: the inbox, the watched order, its deliveries."""

import uuid
from dataclasses import asdict, fields

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from reference_services.notification.adapters.deliveries import fan_out, fan_out_many
from reference_services.notification.adapters.tables import watched_orders
from reference_services.notification.domain.rules import WatchedOrder, track
from reference_services.platform.db import Database
from reference_services.platform.events import Envelope
from reference_services.platform.inbox import first_delivery, new_events

_COLUMNS = [field.name for field in fields(WatchedOrder)]


async def apply_event(db: Database, event: Envelope, entry_id: str) -> int | None:
    """Apply the event unless it was applied before (None); returns the deliveries it queued."""
    async with db.write() as write:
        if not await first_delivery(write.conn, event.id, event.type, entry_id):
            return None
        order_id = uuid.UUID(event.subject)
        current = await _locked(write.conn, order_id)
        tracked = track(current, event)
        if tracked != current:
            row = asdict(tracked)
            statement = insert(watched_orders).values(**row)
            await write.conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[watched_orders.c.order_id],
                    set_={
                        name: statement.excluded[name] for name in _COLUMNS if name != "order_id"
                    },
                )
            )
        return await fan_out(
            write.conn, event.id, event.type, str(event.data.get("plant")), event.document()
        )


async def apply_events(db: Database, batch: list[tuple[Envelope, str]]) -> int:
    """Apply new events in one transaction: the inbox, each order's state once (locked in id
    order), the deliveries of every event; returns how many deliveries were queued."""
    async with db.write() as write:
        todo = await new_events(write.conn, batch)
        if not todo:
            return 0
        ids = sorted({uuid.UUID(event.subject) for event in todo})
        found = await write.conn.execute(
            select(watched_orders)
            .where(watched_orders.c.order_id.in_(ids))
            .order_by(watched_orders.c.order_id)
            .with_for_update()
        )
        before = {
            row.order_id: WatchedOrder(**{name: getattr(row, name) for name in _COLUMNS})
            for row in found
        }
        orders = dict(before)
        for event in todo:
            order_id = uuid.UUID(event.subject)
            orders[order_id] = track(orders.get(order_id), event)
        changed = [asdict(order) for i, order in orders.items() if before.get(i) != order]
        if changed:
            statement = insert(watched_orders).values(changed)
            await write.conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[watched_orders.c.order_id],
                    set_={
                        name: statement.excluded[name] for name in _COLUMNS if name != "order_id"
                    },
                )
            )
        return await fan_out_many(
            write.conn,
            [(e.id, e.type, str(e.data.get("plant")), e.document()) for e in todo],
        )


async def _locked(conn: AsyncConnection, order_id: uuid.UUID) -> WatchedOrder | None:
    found = (
        await conn.execute(
            select(watched_orders).where(watched_orders.c.order_id == order_id).with_for_update()
        )
    ).first()
    return (
        None if found is None else WatchedOrder(**{name: getattr(found, name) for name in _COLUMNS})
    )
