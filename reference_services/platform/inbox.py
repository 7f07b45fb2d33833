"""The inbox: a consumer records each event id it applies in the same transaction as its effect,
so a redelivered event (the relay and the stream are at-least-once) is applied exactly once."""

import uuid

from sqlalchemy import Column, DateTime, MetaData, String, Table, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from reference_services.platform.events import Envelope


def define_inbox(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("event_id", UUID(as_uuid=True), primary_key=True),
        Column("event_type", String(100), nullable=False),
        Column("stream_id", String(40), nullable=False),
        Column("applied_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


_CLAIM = text(
    "INSERT INTO inbox (event_id, event_type, stream_id)"
    " VALUES (:event_id, :event_type, :stream_id)"
    " ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
)


async def first_delivery(
    conn: AsyncConnection, event_id: uuid.UUID, event_type: str, stream_id: str
) -> bool:
    """Record the event in the transaction on `conn`; False if it was applied before.

    A concurrent transaction applying the same event makes this one wait on the key and then
    return False once that one commits (or True if it rolls back).
    """
    claimed = await conn.execute(
        _CLAIM, {"event_id": event_id, "event_type": event_type, "stream_id": stream_id}
    )
    return claimed.first() is not None


async def first_deliveries(
    conn: AsyncConnection, events: list[tuple[uuid.UUID, str, str]]
) -> set[uuid.UUID]:
    """Record many (event id, type, stream entry id) at once; the ids not applied before.

    Rows are inserted in event id order, so two consumers claiming overlapping batches wait on
    each other rather than deadlock.
    """
    if not events:
        return set()
    unique = sorted({event_id: (event_id, t, s) for event_id, t, s in events}.values())
    claimed = await conn.execute(
        _CLAIM_MANY,
        {
            "ids": [str(e[0]) for e in unique],
            "types": [e[1] for e in unique],
            "streams": [e[2] for e in unique],
        },
    )
    return {row[0] for row in claimed}


_CLAIM_MANY = text(
    "INSERT INTO inbox (event_id, event_type, stream_id)"
    " SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:types AS text[]), CAST(:streams AS text[]))"
    " ORDER BY 1"
    " ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
)


async def new_events(conn: AsyncConnection, batch: list[tuple[Envelope, str]]) -> list[Envelope]:
    """The events of (envelope, stream entry id) pairs not applied before, recorded now, in
    batch order; a copy later in the same batch counts as applied."""
    fresh = await first_deliveries(conn, [(e.id, e.type, entry) for e, entry in batch])
    todo: list[Envelope] = []
    for event, _ in batch:
        if event.id in fresh:
            fresh.discard(event.id)
            todo.append(event)
    return todo
