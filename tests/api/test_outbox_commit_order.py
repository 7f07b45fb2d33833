"""Outbox ids follow commit order, and no writer waits for another's client to commit.

These run the MES's own outbox code (`platform.outbox.append`, `outbox_statement.outbox_ctes`)
against a scratch database migrated like the MES's (fixtures/scratch_db.py): they commit rows
that are not events of real orders, which the relay must never see.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from preflight.stack import asyncpg_url
from preflight.waits import wait_until_async
from reference_services.mes.adapters.tables import outbox
from reference_services.platform.outbox import APPEND_LOCK, OutboxEvent, append, outbox_rows
from reference_services.platform.outbox_statement import outbox_ctes

WAIT_S = 10.0


def event(name: str) -> OutboxEvent:
    return OutboxEvent("order.updated", "order", name, {"name": name})


def ids_by_aggregate(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT aggregate_id, id FROM outbox").fetchall()
    return {str(aggregate): int(id_) for aggregate, id_ in rows}


@asynccontextmanager
async def connections(dsn: str, count: int) -> AsyncIterator[list[AsyncConnection]]:
    engine = create_async_engine(asyncpg_url(dsn), pool_size=count)
    try:
        opened = [await engine.connect() for _ in range(count)]
        try:
            yield opened
        finally:
            for conn in opened:
                await conn.close()
    finally:
        await engine.dispose()


async def backend_pid(conn: AsyncConnection) -> int:
    pid = int((await conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one())
    await conn.commit()
    return pid


async def wait_for_advisory_lock(watcher: AsyncConnection, pid: int) -> None:
    """Until the backend `pid` waits for an advisory lock (or fail after WAIT_S)."""

    async def waiting() -> bool:
        result = await watcher.exec_driver_sql(
            f"SELECT wait_event FROM pg_stat_activity WHERE pid = {pid:d}"
        )
        wait_event = result.scalar_one_or_none()
        await watcher.rollback()  # a new snapshot of pg_stat_activity next time
        return wait_event == "advisory"

    await wait_until_async(
        waiting,
        timeout=WAIT_S,
        interval=0.02,
        description=f"backend {pid} to wait for the append lock",
    )


async def append_and_commit(conn: AsyncConnection, *names: str) -> None:
    await conn.begin()
    await append(conn, outbox, [event(name) for name in names])
    await conn.commit()


def test_a_transaction_that_appended_first_but_commits_last_gets_the_higher_id(
    scratch_mes_db: str,
) -> None:
    early, late = f"early-{uuid.uuid4()}", f"late-{uuid.uuid4()}"

    async def scenario() -> None:
        async with connections(scratch_mes_db, 2) as (first, second):
            await first.begin()
            await append(first, outbox, [event(early)])
            # The first transaction holds no lock while its client is away: this commits.
            await asyncio.wait_for(append_and_commit(second, late, late + "-2"), WAIT_S)
            await first.commit()

    asyncio.run(scenario())

    ids = ids_by_aggregate(scratch_mes_db)
    assert 0 < ids[late] < ids[late + "-2"] < ids[early]


def test_a_rolled_back_append_leaves_nothing(scratch_mes_db: str) -> None:
    gone = f"gone-{uuid.uuid4()}"

    async def scenario() -> None:
        async with connections(scratch_mes_db, 1) as (conn,):
            await conn.begin()
            await append(conn, outbox, [event(gone)])
            await conn.rollback()

    asyncio.run(scenario())

    assert gone not in ids_by_aggregate(scratch_mes_db)


async def one_statement(conn: AsyncConnection, name: str) -> None:
    driver: Any = (await conn.get_raw_connection()).driver_connection
    assert isinstance(driver, asyncpg.Connection)
    await driver.fetchrow(
        f"WITH changed AS (SELECT 1), {outbox_ctes('$1', 'changed')} SELECT 1",
        outbox_rows([event(name)]),
    )


@pytest.mark.parametrize(
    "write", [append_and_commit, one_statement], ids=["append at commit", "one statement"]
)
def test_a_write_gets_its_id_only_under_the_append_lock(
    scratch_mes_db: str, write: Callable[[AsyncConnection, str], Awaitable[None]]
) -> None:
    name = f"locked-{uuid.uuid4()}"
    before = max(ids_by_aggregate(scratch_mes_db).values(), default=0)

    async def scenario() -> None:
        async with connections(scratch_mes_db, 3) as (holder, writer, watcher):
            await holder.begin()
            await holder.exec_driver_sql(f"SELECT pg_advisory_xact_lock({APPEND_LOCK:d})")
            pid = await backend_pid(writer)
            writing = asyncio.ensure_future(write(writer, name))
            await wait_for_advisory_lock(watcher, pid)
            assert not writing.done()
            await holder.rollback()
            await asyncio.wait_for(writing, WAIT_S)

    asyncio.run(scenario())

    assert ids_by_aggregate(scratch_mes_db)[name] > before
