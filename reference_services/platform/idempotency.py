"""Idempotency keys: the first request with a key owns it until it commits its response.

Claiming a key is a statement of its own; the response is stored in the same transaction as the
write it describes, so a stored response always means the write committed. A claim whose owner died
expires after its lease and may be taken over by a retry with the same request.
"""

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from reference_services.platform.db import Database
from reference_services.platform.problems import Problem

LEASE_SECONDS = 30

# Claims the key, or (in the same round trip) reads the request that holds it. The outer SELECT
# sees the table as it was before the statement: a fresh claim shows no earlier holder.
_CLAIM = """
WITH claimed AS (
    INSERT INTO idempotency_keys (scope, key, request_hash, state, locked_until)
    VALUES ($1, $2, $3, 'in_flight', now() + make_interval(secs => $4))
    ON CONFLICT (scope, key) DO UPDATE SET locked_until = EXCLUDED.locked_until
      WHERE idempotency_keys.state = 'in_flight'
        AND idempotency_keys.locked_until < now()
        AND idempotency_keys.request_hash = EXCLUDED.request_hash
    RETURNING key
)
SELECT (SELECT count(*) FROM claimed) AS claimed,
       held.request_hash, held.state, held.response_status, held.response_body::text AS body
FROM (SELECT 1) AS one
LEFT JOIN idempotency_keys AS held ON held.scope = $1 AND held.key = $2
"""
_COMPLETE = text(
    "UPDATE idempotency_keys SET state = 'done', response_status = :status,"
    " response_body = CAST(:body AS jsonb), locked_until = NULL WHERE scope = :scope AND key = :key"
)
_RELEASE = "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND state = 'in_flight'"


COMPLETION_COLUMNS = ("key_scope", "idempotency_key", "response_status", "response_body")
"""The columns `completion_statement` reads of each change, and what `completion_args` fills."""


def completion_statement(changed: str) -> str:
    """`complete` as the UPDATE of a data-modifying CTE in a larger asyncpg statement, so each
    response is stored in the transaction of its write: for every row of `changed` (a FROM item
    with one row per change that happened, with the `COMPLETION_COLUMNS`, NULL for a change made
    without a key), the response of its key."""
    scope, key, status, body = (f"c.{column}" for column in COMPLETION_COLUMNS)
    return (
        f"UPDATE idempotency_keys SET state = 'done', response_status = {status},"
        f" response_body = CAST({body} AS jsonb), locked_until = NULL"
        f" FROM {changed} AS c"
        f" WHERE idempotency_keys.scope = {scope} AND idempotency_keys.key = {key}"
    )


def completion_args(owned: "Claim | None", status: int, body: Any) -> list[object]:
    """The `COMPLETION_COLUMNS` of a change (all NULL without a claim: nothing to complete)."""
    if owned is None:
        return [None, None, None, None]
    return [owned.scope, owned.key, status, orjson.dumps(body).decode()]


def define_idempotency_keys(metadata: MetaData) -> Table:
    return Table(
        "idempotency_keys",
        metadata,
        Column("scope", String(200), primary_key=True),
        Column("key", String(255), primary_key=True),
        Column("request_hash", String(64), nullable=False),
        Column("state", String(16), nullable=False),
        Column("response_status", Integer),
        Column("response_body", JSONB),
        Column("locked_until", DateTime(timezone=True)),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any


@dataclass(frozen=True)
class Claim:
    scope: str
    key: str
    request_hash: str


def request_fingerprint(*parts: Any) -> str:
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def claim(db: Database, scope: str, key: str, request_hash: str) -> Claim | StoredResponse:
    """Own the key for this request, or get the response of the request that already used it."""
    row = await db.fetch_row(_CLAIM, scope, key, request_hash, float(LEASE_SECONDS))
    if row["claimed"]:
        return Claim(scope, key, request_hash)
    if row["request_hash"] is None:
        raise Problem(
            409,
            "idempotency-in-flight",
            "Request in flight",
            "a request with this Idempotency-Key is still being processed; retry later",
            headers={"Retry-After": "1"},
        )
    if row["request_hash"] != request_hash:
        raise Problem(
            422,
            "idempotency-key-reused",
            "Idempotency key reused",
            "this Idempotency-Key was used with a different request",
        )
    if row["state"] != "done":
        raise Problem(
            409,
            "idempotency-in-flight",
            "Request in flight",
            "a request with this Idempotency-Key is still being processed; retry later",
            headers={"Retry-After": "1"},
        )
    return StoredResponse(row["response_status"], orjson.loads(row["body"]))


async def complete(conn: AsyncConnection, owned: Claim, status: int, body: Any) -> None:
    """Store the response, inside the transaction of the write it answers."""
    await conn.execute(
        _COMPLETE,
        {
            "scope": owned.scope,
            "key": owned.key,
            "status": status,
            "body": orjson.dumps(body).decode(),
        },
    )


async def release(db: Database, owned: Claim) -> None:
    """Give the key back after a request that wrote nothing, so a retry runs again."""
    await db.fetch_row(_RELEASE, owned.scope, owned.key)
