"""Webhook subscriptions in the database, including the one the service keeps for the CRM."""

import secrets
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from reference_services.notification.adapters.tables import deliveries, subscriptions

_PUBLIC = [
    subscriptions.c.id,
    subscriptions.c.url,
    subscriptions.c.event_types,
    subscriptions.c.plant,
    subscriptions.c.description,
    subscriptions.c.managed,
    subscriptions.c.active,
    subscriptions.c.created_at,
]


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


async def create(
    conn: AsyncConnection,
    url: str,
    event_types: list[str],
    plant: str | None,
    description: str,
) -> dict[str, Any]:
    """A new subscription; the result carries its signing secret (shown only here)."""
    secret = new_secret()
    row = (
        await conn.execute(
            insert(subscriptions)
            .values(
                id=uuid.uuid4(),
                url=url,
                event_types=event_types,
                plant=plant,
                secret=secret,
                description=description,
            )
            .returning(*_PUBLIC)
        )
    ).one()
    return _plain(row._mapping) | {"secret": secret}


async def keep_managed(
    conn: AsyncConnection, subscription_id: uuid.UUID, url: str, event_types: list[str], secret: str
) -> None:
    """Create or update a subscription the service configures itself (the CRM callback)."""
    statement = insert(subscriptions).values(
        id=subscription_id,
        url=url,
        event_types=event_types,
        secret=secret,
        description="CRM callback (configured)",
        managed=True,
    )
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[subscriptions.c.id],
            set_={"url": url, "event_types": event_types, "secret": secret, "active": True},
        )
    )


async def listed(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(*_PUBLIC).where(subscriptions.c.active).order_by(subscriptions.c.created_at)
    )
    return [_plain(row._mapping) for row in rows]


async def one(conn: AsyncConnection, subscription_id: uuid.UUID) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            select(*_PUBLIC).where(subscriptions.c.id == subscription_id, subscriptions.c.active)
        )
    ).first()
    return None if row is None else _plain(row._mapping)


async def deactivate(conn: AsyncConnection, subscription_id: uuid.UUID) -> bool:
    """Stop a subscription: nothing new is queued for it and its pending deliveries end. Its
    delivery log stays. False if there is no such (active, self-made) subscription."""
    done = await conn.execute(
        update(subscriptions)
        .where(
            subscriptions.c.id == subscription_id,
            subscriptions.c.active,
            ~subscriptions.c.managed,
        )
        .values(active=False)
        .returning(subscriptions.c.id)
    )
    if done.first() is None:
        return False
    await conn.execute(
        update(deliveries)
        .where(deliveries.c.subscription_id == subscription_id, deliveries.c.status == "pending")
        .values(status="cancelled", last_error="subscription deleted")
    )
    return True


def _plain(mapping: Mapping[Any, Any]) -> dict[str, Any]:
    """A row as a dict with plain str keys (SQLAlchemy's quoted names are not JSON keys)."""
    return {str(key): value for key, value in mapping.items()}
