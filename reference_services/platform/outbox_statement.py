"""`outbox.append` as part of a write done in one asyncpg statement, committed on its own.

The rows are those of `reference_services.platform.outbox.append` (the same columns, from the
same JSON, `outbox.outbox_rows`), but they get their ids at once: the statement takes the
transaction-level advisory lock `outbox.APPEND_LOCK` before inserting them, and keeps it until
its commit, which follows the statement without a round trip to the client. Ids so follow
commit order as they do for `append`'s rows, which take the same lock at their commit.
"""

from reference_services.platform.outbox import (
    APPEND_LOCK,
    EVENT_COLUMNS,
    RECORDSET_COLUMNS,
    event_recordset,
)


def outbox_ctes(events: str, changed: str, order_by: str | None = None) -> str:
    """Two CTEs (`outbox_ordered`, `outbox_appended`) for a `WITH` list: they take the append lock
    (once, when `changed`, a FROM item with one row per change that happened, has any row) and
    insert, for each row of `changed`, the events of the SQL expression `events` (the JSON of
    `outbox.outbox_rows`; it may name `changed`'s columns), ordered by `order_by` (an expression
    over `changed`) and then as listed, so their ids follow the changes' order."""
    order = f"{order_by}, " if order_by else ""
    return f"""outbox_ordered AS MATERIALIZED (
    SELECT pg_advisory_xact_lock({APPEND_LOCK:d}) FROM (SELECT 1 FROM {changed} LIMIT 1) AS changes
), outbox_appended AS (
    INSERT INTO outbox ({EVENT_COLUMNS})
    SELECT {RECORDSET_COLUMNS}
    FROM outbox_ordered, {changed}, {event_recordset(events)}
    ORDER BY {order}e.event_no
)"""
