"""Transactional outbox: events are rows written in the same transaction as the change.

Outbox ids follow commit order: a row gets its id under a transaction-level advisory lock
(`APPEND_LOCK`) that its transaction keeps until its commit, so a row with a higher id can only
get it after every lower id has committed (or rolled back). The relay
(`reference_services.platform.outbox_relay`) publishes rows in id order, which is commit order.

There are two ways to get there, and the lock is never held while the database waits for its
client:
- `append`, for a write made of several statements: the rows go in with a provisional (negative)
  id and no lock; at the commit a deferred constraint trigger (`outbox_commit_order`, created by
  the MES migration 0004) takes the lock and moves each row to the next id, in insertion order,
  so the lock is held from the commit's start to its end, inside the server. Taking it at the
  insert instead would hold it across the client's round trips to the commit: on a busy host
  every writer then queues behind one whose client has not been scheduled yet (a convoy).
- `outbox_statement.outbox_ctes`, for a write that is one statement committed on its own: the
  statement takes the lock before inserting, and its commit follows at once.
"""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson
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
from sqlalchemy.sql.elements import TextClause


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


APPEND_LOCK = 0x6F7574626F78  # "outbox": serializes outbox ids and commits

_COLUMNS = (  # the columns an event fills, and their types in `outbox_rows`' JSON
    ("event_id", "uuid"),
    ("event_type", "text"),
    ("aggregate_type", "text"),
    ("aggregate_id", "text"),
    ("payload", "jsonb"),
    ("traceparent", "text"),
    ("occurred_at", "timestamptz"),
)
EVENT_COLUMNS = ", ".join(name for name, _ in _COLUMNS)
"""The columns an event fills, as an INSERT's column list."""
RECORDSET_COLUMNS = ", ".join(f"e.{name}" for name, _ in _COLUMNS)
"""The same columns of `event_recordset`'s `e`, as a SELECT list."""
_RECORDSET_TYPES = ", ".join(f"{name} {type_}" for name, type_ in _COLUMNS)


def event_recordset(events: str) -> str:
    """A FROM item `e` with one row per event of `events` (an SQL expression for the JSON of
    `outbox_rows`), with the event's place in the list (from 1) in column `event_no`."""
    names = ", ".join(name for name, _ in _COLUMNS)
    return (
        f"ROWS FROM (jsonb_to_recordset(CAST({events} AS jsonb)) AS ({_RECORDSET_TYPES}))"
        f" WITH ORDINALITY AS e({names}, event_no)"
    )


def outbox_rows(events: list[OutboxEvent]) -> str:
    """The events as one JSON parameter (see `event_recordset`), with the current span's
    traceparent."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    traceparent = carrier.get("traceparent")
    rows: list[dict[str, Any]] = [
        {
            "event_id": event.event_id,
            "event_type": event.event_type,
            "aggregate_type": event.aggregate_type,
            "aggregate_id": event.aggregate_id,
            "payload": event.payload,
            "traceparent": traceparent,
            "occurred_at": event.occurred_at,
        }
        for event in events
    ]
    return orjson.dumps(rows).decode()


@cache
def provisional_append(table: str) -> TextClause:
    """The statement `append` runs: the events of `:events` with provisional (negative) ids
    from the table's own sequence, which the commit-order trigger replaces at the commit."""
    return text(
        f"INSERT INTO {table} (id, {EVENT_COLUMNS})"
        f" SELECT -nextval('{table}_id_seq'), {RECORDSET_COLUMNS}"
        f" FROM {event_recordset(':events')}"
    )


async def append(conn: AsyncConnection, outbox: Table, events: list[OutboxEvent]) -> None:
    """Add events to the transaction on `conn`, in one statement and without a lock: they get
    their ids, in commit order, when the transaction commits."""
    if not events:
        return
    await conn.execute(provisional_append(outbox.name), {"events": outbox_rows(events)})
