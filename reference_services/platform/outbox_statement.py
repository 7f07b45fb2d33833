"""`outbox.append` as part of a write done in one asyncpg statement.

The rows and the ordering are those of `reference_services.platform.outbox.append`: the same
columns, the traceparent of the current span, and the transaction-level advisory lock
`outbox.APPEND_LOCK` taken before the rows get their ids and held until the commit (here the end
of the statement), so that outbox ids follow commit order.
"""

from typing import Any

import orjson
from opentelemetry import propagate

from reference_services.platform.outbox import APPEND_LOCK, OutboxEvent


def outbox_ctes(events_param: str, after: str) -> str:
    """Two CTEs (`outbox_ordered`, `outbox_appended`) for a `WITH` list: they take the append lock
    and insert the events of `events_param` (see `outbox_rows`), once per row of `after` (a CTE
    that returns one row when the change happened, none when it did not)."""
    return f"""outbox_ordered AS MATERIALIZED (
    SELECT pg_advisory_xact_lock({APPEND_LOCK:d}) FROM {after}
), outbox_appended AS (
    INSERT INTO outbox (event_id, event_type, aggregate_type, aggregate_id, payload, traceparent,
                        occurred_at)
    SELECT e.event_id, e.event_type, e.aggregate_type, e.aggregate_id, e.payload, e.traceparent,
           e.occurred_at
    FROM outbox_ordered, jsonb_to_recordset(CAST({events_param} AS jsonb)) AS e(
        event_id uuid, event_type text, aggregate_type text, aggregate_id text, payload jsonb,
        traceparent text, occurred_at timestamptz)
)"""


def outbox_rows(events: list[OutboxEvent]) -> str:
    """The events as the JSON parameter of `outbox_ctes`."""
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
