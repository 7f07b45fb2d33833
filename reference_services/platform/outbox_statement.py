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


def outbox_ctes(events_param: str, after: str) -> str:
    """Two CTEs (`outbox_ordered`, `outbox_appended`) for a `WITH` list: they take the append lock
    and insert the events of `events_param` (see `outbox.outbox_rows`), once per row of `after`
    (a CTE that returns one row when the change happened, none when it did not)."""
    return f"""outbox_ordered AS MATERIALIZED (
    SELECT pg_advisory_xact_lock({APPEND_LOCK:d}) FROM {after}
), outbox_appended AS (
    INSERT INTO outbox ({EVENT_COLUMNS})
    SELECT {RECORDSET_COLUMNS}
    FROM outbox_ordered, {event_recordset(events_param)}
)"""
