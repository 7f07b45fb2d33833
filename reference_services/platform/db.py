"""Primary and replica engines with read-your-writes by WAL position (LSN).

A write commits on the primary and reports the LSN its commit reached. A read that carries that LSN
is served by the replica once the replica has replayed it (waiting briefly), else by the primary.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

log = logging.getLogger(__name__)

_REPLAY_LSN = "select coalesce(pg_last_wal_replay_lsn(), pg_current_wal_insert_lsn())::text"
_INSERT_LSN = "select pg_current_wal_insert_lsn()::text"


def parse_lsn(text: str) -> int:
    high, _, low = text.strip().partition("/")
    if not low:
        raise ValueError(f"not an LSN: {text!r}")
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


@dataclass
class Write:
    conn: AsyncConnection
    commit_lsn: int = 0


@dataclass(frozen=True)
class Read:
    """A connection to read on; with track_lsn, every write that reported a commit LSN <= as_of_lsn
    is visible to it."""

    conn: AsyncConnection
    role: Literal["primary", "replica"]
    as_of_lsn: int | None


class Database:
    def __init__(
        self,
        primary_url: str,
        replica_url: str | None = None,
        *,
        pool_size: int = 10,
        read_your_writes_wait_s: float = 0.25,
    ) -> None:
        self.primary = _engine(primary_url, pool_size)
        self.replica = (
            _engine(replica_url, pool_size) if replica_url and replica_url != primary_url else None
        )
        self.read_your_writes_wait_s = read_your_writes_wait_s

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Write]:
        async with self.primary.connect() as conn:
            write = Write(conn)
            async with conn.begin():
                yield write
            write.commit_lsn = await _lsn(conn, _INSERT_LSN)

    @asynccontextmanager
    async def read(
        self, min_lsn: int | None = None, *, track_lsn: bool = False
    ) -> AsyncIterator[Read]:
        async with AsyncExitStack() as stack:
            read = await self._replica_read(stack, min_lsn, track_lsn)
            if read is None:
                conn = await stack.enter_async_context(self.primary.connect())
                # A commit whose record precedes this position may not be visible yet, but its
                # writer can only report an LSN at or past it: every write reported below it is.
                as_of = await _lsn(conn, _INSERT_LSN) - 1 if track_lsn else None
                read = Read(conn, "primary", as_of)
            yield read

    async def _replica_read(
        self, stack: AsyncExitStack, min_lsn: int | None, track_lsn: bool
    ) -> Read | None:
        if self.replica is None:
            return None
        attempt = AsyncExitStack()
        try:
            conn = await attempt.enter_async_context(self.replica.connect())
            replayed = await self._await_replay(conn, min_lsn) if (min_lsn or track_lsn) else None
        except (OSError, DBAPIError) as exc:
            log.warning("replica unavailable, reading from the primary: %s", exc.__class__.__name__)
            await attempt.aclose()
            return None
        if min_lsn is not None and (replayed is None or replayed < min_lsn):
            await attempt.aclose()
            return None
        await stack.enter_async_context(attempt)
        return Read(conn, "replica", replayed)

    async def _await_replay(self, conn: AsyncConnection, min_lsn: int | None) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.read_your_writes_wait_s
        while True:
            replayed = await _lsn(conn, _REPLAY_LSN)
            if min_lsn is None or replayed >= min_lsn or loop.time() >= deadline:
                return replayed
            await asyncio.sleep(0.005)

    async def current_lsn(self) -> int:
        async with self.primary.connect() as conn:
            return await _lsn(conn, _INSERT_LSN)

    async def ping(self, role: Literal["primary", "replica"]) -> None:
        engine = self.primary if role == "primary" else (self.replica or self.primary)
        async with engine.connect() as conn:
            await conn.exec_driver_sql("select 1")

    async def dispose(self) -> None:
        await self.primary.dispose()
        if self.replica is not None:
            await self.replica.dispose()


async def _lsn(conn: AsyncConnection, query: str) -> int:
    """One WAL position, in one round trip outside any transaction (the driver's own call)."""
    return parse_lsn(await (await _driver(conn)).fetchval(query))


async def fetch_row_autocommit(engine: AsyncEngine, query: str, *args: object) -> Any:
    """One statement in a transaction of its own, in one round trip (the driver's own call)."""
    async with engine.connect() as conn:
        return await (await _driver(conn)).fetchrow(query, *args)


async def _driver(conn: AsyncConnection) -> Any:
    """The asyncpg connection under SQLAlchemy's, for statements SQLAlchemy need not wrap."""
    raw = await conn.get_raw_connection()
    if raw.driver_connection is None:
        raise RuntimeError("the connection was closed")
    return raw.driver_connection


def _engine(url: str, pool_size: int) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size // 2,
        pool_timeout=5,
        pool_recycle=1800,
        connect_args={
            "timeout": 3,
            "command_timeout": 10,
            "server_settings": {"application_name": "preflight"},
        },
    )
