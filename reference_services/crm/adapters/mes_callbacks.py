"""Completion callbacks in the CRM's database: recorded once per event, shown on the sales order."""

import uuid

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from reference_services.crm.adapters.tables import mes_callbacks, sales_orders


async def record(
    conn: AsyncConnection,
    event_id: uuid.UUID,
    event_type: str,
    mes_order_id: uuid.UUID,
    webhook_id: str,
) -> bool:
    """Record the callback; False if this event was recorded before (a redelivery)."""
    stored = await conn.execute(
        insert(mes_callbacks)
        .values(
            event_id=event_id,
            event_type=event_type,
            mes_order_id=mes_order_id,
            webhook_id=webhook_id,
        )
        .on_conflict_do_nothing(index_elements=[mes_callbacks.c.event_id])
        .returning(mes_callbacks.c.event_id)
    )
    if stored.first() is None:
        return False
    if event_type == "order.completed":
        await conn.execute(
            update(sales_orders)
            .where(
                sales_orders.c.mes_order_id == mes_order_id,
                sales_orders.c.completion_notified_at.is_(None),
            )
            .values(completion_notified_at=func.now())
        )
    return True
