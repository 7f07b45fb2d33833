"""Alerts in the database: finding the orders due one, raising each once, the per-user feed."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from reference_services.notification.adapters.deliveries import fan_out
from reference_services.notification.adapters.tables import alert_reads, alerts, watched_orders
from reference_services.notification.domain.rules import (
    CLOSED,
    ORDER_HELD_TOO_LONG,
    ORDER_LATE,
    Alert,
    WatchedOrder,
    hold_alert,
    late_alert,
)

_ORDER_COLUMNS = [
    watched_orders.c.order_id,
    watched_orders.c.order_ref,
    watched_orders.c.plant,
    watched_orders.c.due_date,
    watched_orders.c.status,
    watched_orders.c.last_sequence,
    watched_orders.c.held_since,
]


def _no_alert(alert_type: str, since: Any = None) -> Any:
    condition = and_(alerts.c.order_id == watched_orders.c.order_id, alerts.c.type == alert_type)
    if since is not None:
        condition = and_(condition, alerts.c.raised_at >= since)
    return ~exists().where(condition)


async def due_alerts(
    conn: AsyncConnection, now: datetime, hold_after: timedelta, limit: int = 500
) -> list[Alert]:
    """Orders past their due date and still open, and orders on hold longer than hold_after,
    that have no alert for it yet."""
    late = await conn.execute(
        select(*_ORDER_COLUMNS)
        .where(
            watched_orders.c.status.not_in(CLOSED),
            watched_orders.c.due_date < literal(now.date()),
            _no_alert(ORDER_LATE),
        )
        .limit(limit)
    )
    held = await conn.execute(
        select(*_ORDER_COLUMNS)
        .where(
            watched_orders.c.held_since.is_not(None),
            watched_orders.c.held_since <= literal(now - hold_after),
            _no_alert(ORDER_HELD_TOO_LONG, watched_orders.c.held_since),
        )
        .limit(limit)
    )
    today = now.date()
    return [late_alert(WatchedOrder(**row._mapping), today, now) for row in late] + [
        hold_alert(WatchedOrder(**row._mapping), now) for row in held
    ]


async def raise_alert(conn: AsyncConnection, alert: Alert) -> bool:
    """Store the alert unless one with its dedupe key exists (a concurrent scanner), and queue
    it for the webhooks subscribed to its type; True if it was raised now."""
    stored = await conn.execute(
        insert(alerts)
        .values(
            id=alert.id,
            type=alert.type,
            plant=alert.plant,
            order_id=alert.order_id,
            order_ref=alert.order_ref,
            title=alert.title,
            detail=alert.detail,
            raised_at=alert.raised_at,
            dedupe_key=alert.dedupe_key,
        )
        .on_conflict_do_nothing(index_elements=[alerts.c.dedupe_key])
        .returning(alerts.c.number)
    )
    if stored.first() is None:
        return False
    await fan_out(conn, alert.id, alert.type, alert.plant, alert.envelope())
    return True


async def feed(
    conn: AsyncConnection,
    user: str,
    plants: frozenset[str] | None,
    *,
    before: int | None = None,
    unread_only: bool = False,
    order_id: Any = None,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """The user's feed, newest first, each alert with whether this user read it; and how many
    alerts in the user's plants they have not read."""
    read = exists().where(
        alert_reads.c.user_id == user, alert_reads.c.alert_number == alerts.c.number
    )
    scope = alerts.c.plant.in_(plants) if plants is not None else literal(True)
    query = select(alerts, read.label("read")).where(scope)
    if before is not None:
        query = query.where(alerts.c.number < before)
    if unread_only:
        query = query.where(~read)
    if order_id is not None:
        query = query.where(alerts.c.order_id == order_id)
    rows = (await conn.execute(query.order_by(alerts.c.number.desc()).limit(limit))).all()
    unread = await conn.execute(select(func.count()).select_from(alerts).where(scope, ~read))
    items = [
        {
            "number": row.number,
            "id": row.id,
            "type": row.type,
            "plant": row.plant,
            "order_id": row.order_id,
            "order_ref": row.order_ref,
            "title": row.title,
            "detail": row.detail,
            "raised_at": row.raised_at,
            "read": row.read,
        }
        for row in rows
    ]
    return items, int(unread.scalar_one())


async def mark_read(
    conn: AsyncConnection, user: str, number: int, plants: frozenset[str] | None
) -> bool:
    """Mark the alert read for this user (again is fine); False if it is not in their feed."""
    found = await conn.execute(select(alerts.c.plant).where(alerts.c.number == number))
    plant = found.scalar_one_or_none()
    if plant is None or (plants is not None and plant not in plants):
        return False
    await conn.execute(
        insert(alert_reads).values(user_id=user, alert_number=number).on_conflict_do_nothing()
    )
    return True
