"""Loading and saving sales orders: claiming the ones due for submission, finding the ones an
MES order feed page speaks of, the feed's watermark, and the sales order list."""

import uuid
from collections.abc import Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opentelemetry import propagate
from sqlalchemy import Row, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from reference_services.crm.adapters.tables import AWAITING_PROGRESS, mes_feed, sales_orders
from reference_services.crm.domain.model import MesStatus, SalesOrder, SalesOrderStatus
from reference_services.platform.keyset import decode_cursor, encode_cursor

ORDERS_FEED = "mes-orders"

_NEXT_NUMBER = text("SELECT nextval(pg_get_serial_sequence('sales_orders', 'number'))")

_CLAIM_DUE = text(
    """
    UPDATE sales_orders
       SET submit_attempts = submit_attempts + 1, next_attempt_at = :lease_until
     WHERE id IN (
           SELECT id FROM sales_orders
            WHERE status = 'submitted' AND next_attempt_at <= :now
            ORDER BY next_attempt_at
            LIMIT :limit
              FOR UPDATE SKIP LOCKED)
    RETURNING *
    """
)

_MUTABLE = (
    "status",
    "reject_type",
    "reject_reason",
    "mes_order_id",
    "mes_status",
    "mes_version",
    "next_attempt_at",
    "last_submit_error",
    "version",
    "updated_at",
)


def _from_row(row: Row[Any]) -> SalesOrder:
    return SalesOrder(
        id=row.id,
        number=row.number,
        customer_id=row.customer_id,
        plant=row.plant,
        sku=row.sku,
        quantity=row.quantity,
        due_date=row.due_date,
        priority=row.priority,
        status=SalesOrderStatus(row.status),
        reject_type=row.reject_type,
        reject_reason=row.reject_reason,
        mes_order_id=row.mes_order_id,
        mes_status=MesStatus(row.mes_status) if row.mes_status else None,
        mes_version=row.mes_version,
        submit_attempts=row.submit_attempts,
        next_attempt_at=row.next_attempt_at,
        last_submit_error=row.last_submit_error,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        trace_context=row.traceparent,
        completion_notified_at=row.completion_notified_at,
    )


def _values(order: SalesOrder) -> dict[str, Any]:
    return {
        "status": order.status.value,
        "reject_type": order.reject_type,
        "reject_reason": order.reject_reason,
        "mes_order_id": order.mes_order_id,
        "mes_status": order.mes_status.value if order.mes_status else None,
        "mes_version": order.mes_version,
        "next_attempt_at": order.next_attempt_at,
        "last_submit_error": order.last_submit_error,
        "version": order.version,
        "updated_at": order.updated_at,
    }


class SalesOrderRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def next_number(self) -> int:
        return int((await self.conn.execute(_NEXT_NUMBER)).scalar_one())

    async def add(self, order: SalesOrder) -> None:
        if order.trace_context is None:  # remember the placing request's trace for the submission
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            order.trace_context = carrier.get("traceparent")
        await self.conn.execute(
            sales_orders.insert().values(
                id=order.id,
                number=order.number,
                customer_id=order.customer_id,
                plant=order.plant,
                sku=order.sku,
                quantity=order.quantity,
                due_date=order.due_date,
                priority=order.priority,
                submit_attempts=order.submit_attempts,
                created_at=order.created_at,
                traceparent=order.trace_context,
                **_values(order),
            )
        )

    async def get_for_update(self, order_id: uuid.UUID) -> SalesOrder | None:
        row = (
            await self.conn.execute(
                select(sales_orders).where(sales_orders.c.id == order_id).with_for_update()
            )
        ).first()
        return _from_row(row) if row is not None else None

    async def save(self, order: SalesOrder) -> None:
        await self.conn.execute(
            sales_orders.update().where(sales_orders.c.id == order.id).values(**_values(order))
        )

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[SalesOrder]:
        """Take up to `limit` orders due for (re)submission, counting the attempt and leasing
        them until `lease_until`; rows another submitter is claiming right now are skipped."""
        rows = await self.conn.execute(
            _CLAIM_DUE, {"now": now, "lease_until": lease_until, "limit": limit}
        )
        return sorted((_from_row(row) for row in rows), key=lambda order: order.number)

    async def next_due_at(self) -> datetime | None:
        found: datetime | None = (
            await self.conn.execute(
                select(func.min(sales_orders.c.next_attempt_at)).where(
                    sales_orders.c.status == SalesOrderStatus.SUBMITTED.value
                )
            )
        ).scalar_one()
        return found

    async def by_numbers_for_update(self, numbers: Sequence[int]) -> list[SalesOrder]:
        rows = await self.conn.execute(
            select(sales_orders)
            .where(sales_orders.c.number.in_(sorted(set(numbers))))
            .order_by(sales_orders.c.number)
            .with_for_update()
        )
        return [_from_row(row) for row in rows]

    async def oldest_awaiting_progress(self) -> datetime | None:
        """When the oldest order that may still hear from the MES was placed: one still
        submitted, or accepted and not yet completed or cancelled. None when there is none."""
        found: datetime | None = (
            await self.conn.execute(
                select(func.min(sales_orders.c.created_at)).where(AWAITING_PROGRESS)
            )
        ).scalar_one()
        return found

    async def feed_watermark(self) -> datetime | None:
        found: datetime | None = (
            await self.conn.execute(
                select(mes_feed.c.watermark).where(mes_feed.c.feed == ORDERS_FEED)
            )
        ).scalar_one_or_none()
        return found

    async def advance_watermark(self, watermark: datetime) -> None:
        """Move the watermark forward (never back, whoever else moved it meanwhile)."""
        statement = insert(mes_feed).values(feed=ORDERS_FEED, watermark=watermark)
        await self.conn.execute(
            statement.on_conflict_do_update(
                index_elements=[mes_feed.c.feed],
                set_={
                    "watermark": func.greatest(mes_feed.c.watermark, statement.excluded.watermark),
                    "updated_at": func.now(),
                },
            )
        )


async def load_sales_order(conn: AsyncConnection, order_id: uuid.UUID) -> SalesOrder | None:
    row = (await conn.execute(select(sales_orders).where(sales_orders.c.id == order_id))).first()
    return _from_row(row) if row is not None else None


@dataclass(frozen=True)
class SalesOrderFilter:
    customer_id: uuid.UUID | None = None
    status: Sequence[SalesOrderStatus] = ()
    plants: Set[str] | None = None


@dataclass(frozen=True)
class SalesOrderPage:
    items: list[SalesOrder]
    next_cursor: str | None


async def list_sales_orders(
    conn: AsyncConnection, where: SalesOrderFilter, limit: int, cursor: str | None
) -> SalesOrderPage:
    """Sales orders oldest first, within the caller's plant scope (None: every plant)."""
    query = select(sales_orders)
    if where.customer_id is not None:
        query = query.where(sales_orders.c.customer_id == where.customer_id)
    if where.status:
        query = query.where(sales_orders.c.status.in_([s.value for s in where.status]))
    if where.plants is not None:
        query = query.where(sales_orders.c.plant.in_(sorted(where.plants)))
    if cursor:
        query = query.where(
            tuple_(sales_orders.c.created_at, sales_orders.c.id)
            > tuple_(*decode_cursor(cursor, "created_at", datetime))
        )
    query = query.order_by(sales_orders.c.created_at, sales_orders.c.id).limit(limit + 1)
    rows = (await conn.execute(query)).all()
    items = [_from_row(row) for row in rows[:limit]]
    last = items[-1] if len(rows) > limit else None
    return SalesOrderPage(
        items, encode_cursor("created_at", last.created_at, last.id) if last else None
    )
