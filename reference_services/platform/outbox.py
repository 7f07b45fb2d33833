"""Transactional outbox: events are rows written in the same transaction as the change.

Outbox ids follow commit order: a writer takes a transaction-level advisory lock before it
inserts its rows and keeps it until its commit, so a row with a higher id can only be inserted
after every lower id has committed (or rolled back). The relay
(`reference_services.platform.outbox_relay`) publishes rows in id order, which is commit order.
The lock is held only from the outbox insert, the last statement of a write, to the commit.
"""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opentelemetry import propagate
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncConnection


def define_outbox(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        Column("event_type", String(100), nullable=False),
        Column("aggregate_type", String(50), nullable=False),
        Column("aggregate_id", String(64), nullable=False),
        Column("payload", JSONB, nullable=False),
        Column("traceparent", Text),
        Column("occurred_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Index("outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    )


@dataclass(frozen=True)
class OutboxEvent:
    event_type: str
    aggregate_type: str
    aggregate_id: str
    payload: dict[str, Any]
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))


APPEND_LOCK = 0x6F7574626F78  # "outbox": serializes outbox inserts up to their commit
ORDERED_APPEND = text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=APPEND_LOCK)


async def append(conn: AsyncConnection, outbox: Table, events: list[OutboxEvent]) -> None:
    """Add events to the transaction on `conn`; call it last, just before the commit."""
    if not events:
        return
    await conn.execute(ORDERED_APPEND)
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    await conn.execute(
        outbox.insert(),
        [
            {
                "event_id": event.event_id,
                "event_type": event.event_type,
                "aggregate_type": event.aggregate_type,
                "aggregate_id": event.aggregate_id,
                "payload": event.payload,
                "traceparent": carrier.get("traceparent"),
                "occurred_at": event.occurred_at,
            }
            for event in events
        ],
    )
