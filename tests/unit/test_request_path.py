"""Pieces of the MES request path: access log lines, header reads, the asyncpg connection
settings, and the outbox and idempotency parts of the one-statement order write."""

import logging
import sys
import uuid
from datetime import UTC, datetime

import orjson
from starlette.requests import Request

from reference_services.platform.db import Database
from reference_services.platform.endpoints import header_values
from reference_services.platform.idempotency import (
    COMPLETION_COLUMNS,
    Claim,
    completion_args,
    completion_statement,
)
from reference_services.platform.outbox import APPEND_LOCK, OutboxEvent, outbox_rows
from reference_services.platform.outbox_statement import outbox_ctes
from reference_services.platform.telemetry import JsonLines


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("access", logging.INFO, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def test_a_log_line_is_one_json_object_with_the_extra_fields() -> None:
    line = orjson.loads(
        JsonLines("mes").format(
            record("request %s", "done", request_id="r-1", trace_id="-", status=201, route="/x")
        )
    )

    expected = {
        "level": "INFO",
        "name": "access",
        "message": "request done",
        "request_id": "r-1",
        "trace_id": "-",
        "service": "mes",
        "status": 201,
        "route": "/x",
    }
    assert {key: line[key] for key in expected} == expected
    assert line["time"]


def test_a_log_line_carries_the_exception() -> None:
    try:
        raise ZeroDivisionError("boom")
    except ZeroDivisionError:
        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())

    line = orjson.loads(JsonLines("mes").format(failed))

    assert line["message"] == "failed"
    assert "ZeroDivisionError: boom" in line["exc_info"]


def test_headers_are_read_in_one_pass_and_missing_ones_are_none() -> None:
    request = Request(
        {
            "type": "http",
            "headers": [(b"x-plant-scope", b"P1,P2"), (b"x-min-lsn", b"0/16B3748")],
        }
    )

    assert header_values(request, b"x-min-lsn", b"x-plant-scope", b"if-match") == [
        "0/16B3748",
        "P1,P2",
        None,
    ]


def test_the_driver_pool_connects_where_the_engine_does() -> None:
    db = Database(
        "postgresql+asyncpg://app:secret@127.0.0.1:5433/mes?ssl=disable",
        "postgresql+asyncpg://app:secret@127.0.0.1:5434/mes?ssl=disable",
    )

    primary, replica = db._connect_args["primary"], db._connect_args["replica"]

    assert primary == {
        "host": "127.0.0.1",
        "port": 5433,
        "database": "mes",
        "user": "app",
        "password": "secret",
        "ssl": "disable",
    }
    assert replica["port"] == 5434


def test_a_replica_url_equal_to_the_primary_means_no_replica() -> None:
    url = "postgresql+asyncpg://app@127.0.0.1:5433/mes"
    db = Database(url, url)

    assert db.replica is None
    assert set(db._connect_args) == {"primary"}


def test_the_outbox_ctes_take_the_append_lock_once_before_inserting() -> None:
    sql = outbox_ctes("created.events", "created", order_by="created.n")

    assert f"pg_advisory_xact_lock({APPEND_LOCK})" in sql
    assert "FROM (SELECT 1 FROM created LIMIT 1)" in sql
    assert sql.index("pg_advisory_xact_lock") < sql.index("INSERT INTO outbox")
    assert "CAST(created.events AS jsonb)" in sql
    assert sql.rstrip().endswith("ORDER BY created.n, e.event_no\n)")


def test_outbox_rows_are_the_columns_append_writes() -> None:
    event = OutboxEvent(
        "order.created",
        "order",
        "42",
        {"status": "planned"},
        event_id=uuid.UUID(int=7),
        occurred_at=datetime(2026, 11, 25, 1, 2, 3, tzinfo=UTC),
    )

    (row,) = orjson.loads(outbox_rows([event]))

    assert row == {
        "event_id": str(uuid.UUID(int=7)),
        "event_type": "order.created",
        "aggregate_type": "order",
        "aggregate_id": "42",
        "payload": {"status": "planned"},
        "traceparent": row["traceparent"],
        "occurred_at": "2026-11-25T01:02:03+00:00",
    }


def test_the_idempotency_completion_reads_the_columns_completion_args_fills() -> None:
    sql = completion_statement("created")
    args = completion_args(Claim("POST /orders", "k-1", "h"), 201, {"id": "x"})

    assert all(f"c.{column}" in sql for column in COMPLETION_COLUMNS)
    assert "FROM created AS c" in sql
    assert args == ["POST /orders", "k-1", 201, '{"id":"x"}']
    assert completion_args(None, 201, {"id": "x"}) == [None] * len(COMPLETION_COLUMNS)
