"""Queued webhook deliveries: fanning an event out to its subscriptions, claiming what is due,
recording each attempt, and the delivery log."""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from reference_services.notification.adapters.tables import (
    deliveries,
    delivery_attempts,
    subscriptions,
)
from reference_services.notification.domain.rules import subscribed


async def fan_out(
    conn: AsyncConnection,
    event_id: uuid.UUID,
    event_type: str,
    plant: str | None,
    body: Mapping[str, Any],
) -> int:
    """Queue the event for every active subscription that wants it, once per subscription;
    returns how many deliveries were queued now."""
    return await fan_out_many(conn, [(event_id, event_type, plant, body)])


async def fan_out_many(
    conn: AsyncConnection,
    events: list[tuple[uuid.UUID, str, str | None, Mapping[str, Any]]],
) -> int:
    """fan_out for many events, reading the subscriptions once."""
    active = (
        await conn.execute(
            select(subscriptions.c.id, subscriptions.c.event_types, subscriptions.c.plant).where(
                subscriptions.c.active
            )
        )
    ).all()
    values = [
        {
            "id": uuid.uuid4(),
            "subscription_id": row.id,
            "event_id": event_id,
            "event_type": event_type,
            "body": dict(body),
            "status": "pending",
            "next_attempt_at": func.now(),
        }
        for event_id, event_type, plant, body in events
        for row in active
        if (row.plant is None or row.plant == plant)
        and subscribed(list(row.event_types), event_type)
    ]
    if not values:
        return 0
    queued = await conn.execute(
        insert(deliveries)
        .values(values)
        .on_conflict_do_nothing(constraint="deliveries_once_per_event")
        .returning(deliveries.c.id)
    )
    return len(queued.all())


@dataclass(frozen=True)
class Claimed:
    id: uuid.UUID
    subscription_id: uuid.UUID
    url: str
    secret: str
    body: dict[str, Any]
    attempt: int


async def claim_due(conn: AsyncConnection, limit: int, lease: timedelta) -> list[Claimed]:
    """Take up to `limit` due deliveries: each counts one more attempt and is leased (not due
    again) for `lease`, so a worker that dies mid-send leaves it to be retried, not lost."""
    due = (
        select(deliveries.c.id)
        .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= func.now())
        .order_by(deliveries.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    claimed = await conn.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(due))
        .values(attempts=deliveries.c.attempts + 1, next_attempt_at=func.now() + lease)
        .returning(
            deliveries.c.id, deliveries.c.subscription_id, deliveries.c.body, deliveries.c.attempts
        )
    )
    rows = claimed.all()
    if not rows:
        return []
    secrets = {
        row.id: (row.url, row.secret)
        for row in await conn.execute(
            select(subscriptions.c.id, subscriptions.c.url, subscriptions.c.secret).where(
                subscriptions.c.id.in_({row.subscription_id for row in rows})
            )
        )
    }
    return [
        Claimed(
            id=row.id,
            subscription_id=row.subscription_id,
            url=secrets[row.subscription_id][0],
            secret=secrets[row.subscription_id][1],
            body=row.body,
            attempt=row.attempts,
        )
        for row in rows
    ]


@dataclass(frozen=True)
class AttemptResult:
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    outcome: str
    """delivered; pending (retried at next_attempt_at); failed (the receiver refused it for
    good, or the URL is no longer allowed); dead (out of attempts)."""
    next_attempt_at: datetime | None = None


async def record_attempt(conn: AsyncConnection, claimed: Claimed, result: AttemptResult) -> None:
    await conn.execute(
        insert(delivery_attempts).values(
            delivery_id=claimed.id,
            attempt=claimed.attempt,
            started_at=result.started_at,
            duration_ms=result.duration_ms,
            status_code=result.status_code,
            error=result.error,
            next_attempt_at=result.next_attempt_at,
        )
    )
    values: dict[str, Any] = {"status": result.outcome, "last_error": result.error}
    if result.outcome == "delivered":
        values["delivered_at"] = func.now()
    if result.next_attempt_at is not None:
        values["next_attempt_at"] = result.next_attempt_at
    await conn.execute(update(deliveries).where(deliveries.c.id == claimed.id).values(**values))


async def pending_count(conn: AsyncConnection) -> int:
    found = await conn.execute(
        select(func.count()).select_from(deliveries).where(deliveries.c.status == "pending")
    )
    return int(found.scalar_one())


async def delivery_log(
    conn: AsyncConnection,
    subscription_id: uuid.UUID,
    *,
    event_id: uuid.UUID | None = None,
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The subscription's deliveries, oldest first, each with its attempts."""
    query = select(deliveries).where(deliveries.c.subscription_id == subscription_id)
    if event_id is not None:
        query = query.where(deliveries.c.event_id == event_id)
    if after is not None:
        query = query.where(
            or_(
                deliveries.c.created_at > after[0],
                and_(deliveries.c.created_at == after[0], deliveries.c.id > after[1]),
            )
        )
    rows = (
        await conn.execute(query.order_by(deliveries.c.created_at, deliveries.c.id).limit(limit))
    ).all()
    attempts: dict[uuid.UUID, list[dict[str, Any]]] = {row.id: [] for row in rows}
    if rows:
        for attempt in await conn.execute(
            select(delivery_attempts)
            .where(delivery_attempts.c.delivery_id.in_(list(attempts)))
            .order_by(delivery_attempts.c.delivery_id, delivery_attempts.c.attempt)
        ):
            attempts[attempt.delivery_id].append(
                {
                    "attempt": attempt.attempt,
                    "started_at": attempt.started_at,
                    "duration_ms": attempt.duration_ms,
                    "status_code": attempt.status_code,
                    "error": attempt.error,
                    "next_attempt_at": attempt.next_attempt_at,
                }
            )
    return [
        {
            "id": row.id,
            "event_id": row.event_id,
            "event_type": row.event_type,
            "status": row.status,
            "attempts": attempts[row.id],
            "created_at": row.created_at,
            "delivered_at": row.delivered_at,
            "next_attempt_at": row.next_attempt_at if row.status == "pending" else None,
            "last_error": row.last_error,
        }
        for row in rows
    ]
