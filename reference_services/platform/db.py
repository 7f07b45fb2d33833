"""Primary and replica engines with read-your-writes by WAL position (LSN).

A write commits on the primary and reports the LSN its commit reached. A read that carries that LSN
is served by the replica once the replica has replayed it (waiting briefly), else by the primary.

Each role has a SQLAlchemy engine and, for the hot paths that need no SQL building, a pool of raw
asyncpg connections (`driver_write`, `driver_read`): asyncpg prepares and caches each statement
per connection, and a statement runs without SQLAlchemy's execution machinery around it.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from reference_services.platform.group_commit import GroupCommit

log = logging.getLogger(__name__)

Role = Literal["primary", "replica"]
C = TypeVar("C")

CONNECT_TIMEOUT_S = 3
COMMAND_TIMEOUT_S = 10
POOL_TIMEOUT_S = 5
SERVER_SETTINGS = {"application_name": "preflight"}
_UNAVAILABLE = (OSError, DBAPIError, asyncpg.PostgresError, asyncpg.InterfaceError)

_REPLAY_LSN = "select coalesce(pg_last_wal_replay_lsn(), pg_current_wal_insert_lsn())::text"
_REPLICA_STATE = (
    "select coalesce(pg_last_wal_replay_lsn(), '0/0')::text as replayed,"
    " coalesce(extract(epoch from now() - pg_last_xact_replay_timestamp()), 0) as seconds"
)
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
class Read(Generic[C]):
    """A connection to read on; with track_lsn, every write that reported a commit LSN <= as_of_lsn
    is visible to it. `conn` is SQLAlchemy's (`Database.read`) or asyncpg's (`driver_read`)."""

    conn: C
    role: Role
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
        replica = replica_url if replica_url and replica_url != primary_url else None
        self.primary = _engine(primary_url, pool_size)
        self.replica = _engine(replica, pool_size) if replica else None
        self.read_your_writes_wait_s = read_your_writes_wait_s
        self._connect_args: dict[Role, dict[str, Any]] = {"primary": _connect_args(self.primary)}
        if self.replica is not None:
            self._connect_args["replica"] = _connect_args(self.replica)
        self._pool_size = pool_size
        self.pool_size = pool_size
        self._pools: dict[Role, Any] = {}
        self._pools_lock = asyncio.Lock()
        self._lsn_waiters: list[asyncio.Future[int]] | None = None
        self._lsn_reads: set[asyncio.Task[None]] = set()
        self._group_commits: dict[str, GroupCommit] = {}

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Write]:
        async with self.primary.connect() as conn:
            write = Write(conn)
            async with conn.begin():
                yield write
            write.commit_lsn = await _lsn(await _driver(conn), _INSERT_LSN)

    def group_commit(self, statement: str) -> GroupCommit:
        """The group commit of a batch statement (see group_commit.py), one per statement."""
        found = self._group_commits.get(statement)
        if found is None:
            found = self._group_commits[statement] = GroupCommit(self, statement)
        return found

    def lsn_after_commits(self) -> "asyncio.Future[int]":
        """The primary's WAL insert position, read by a query sent after every commit the callers
        saw complete: at or past the end of each one's commit record, so a read at that LSN sees
        them all. Callers asking in the same round of the event loop share one query (sent when
        the round is done): under load, one round trip for many writes rather than one each."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[int] = loop.create_future()
        if self._lsn_waiters is None:
            self._lsn_waiters = []
            loop.call_soon(self._read_lsn_for_waiters)
        self._lsn_waiters.append(answer)
        return answer

    def _read_lsn_for_waiters(self) -> None:
        waiters, self._lsn_waiters = self._lsn_waiters or [], None
        reading = asyncio.ensure_future(self._answer_lsn(waiters))
        self._lsn_reads.add(reading)  # a reference, so the task is not collected while it runs
        reading.add_done_callback(self._lsn_reads.discard)

    async def _answer_lsn(self, waiters: list["asyncio.Future[int]"]) -> None:
        try:
            lsn = await self.current_lsn()
        except asyncio.CancelledError:
            for waiter in waiters:
                waiter.cancel()
            raise
        except Exception as exc:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        for waiter in waiters:
            if not waiter.done():  # its request may have been cancelled meanwhile
                waiter.set_result(lsn)

    @asynccontextmanager
    async def read(
        self, min_lsn: int | None = None, *, track_lsn: bool = False
    ) -> AsyncIterator[Read[AsyncConnection]]:
        async with AsyncExitStack() as stack:
            found = await self._open_read(
                stack, min_lsn, track_lsn, self.replica.connect if self.replica else None, _driver
            )
            if found is None:
                conn = await stack.enter_async_context(self.primary.connect())
                found = Read(conn, "primary", await _primary_as_of(await _driver(conn), track_lsn))
            yield found

    @asynccontextmanager
    async def driver_read(
        self, min_lsn: int | None = None, *, track_lsn: bool = False
    ) -> AsyncIterator[Read[Any]]:
        """`read` on a raw asyncpg connection."""
        async with AsyncExitStack() as stack:
            replica = (lambda: self.driver("replica")) if "replica" in self._connect_args else None
            found = await self._open_read(stack, min_lsn, track_lsn, replica, _itself)
            if found is None:
                conn = await stack.enter_async_context(self.driver("primary"))
                found = Read(conn, "primary", await _primary_as_of(conn, track_lsn))
            yield found

    async def _open_read(
        self,
        stack: AsyncExitStack,
        min_lsn: int | None,
        track_lsn: bool,
        open_replica: Callable[[], AbstractAsyncContextManager[C]] | None,
        driver_of: Callable[[C], Awaitable[Any]],
    ) -> Read[C] | None:
        """A replica connection that has replayed `min_lsn` (waiting briefly), else None."""
        if open_replica is None:
            return None
        attempt = AsyncExitStack()
        try:
            conn = await attempt.enter_async_context(open_replica())
            replayed = (
                await self._await_replay(await driver_of(conn), min_lsn)
                if (min_lsn or track_lsn)
                else None
            )
        except _UNAVAILABLE as exc:
            log.warning("replica unavailable, reading from the primary: %s", exc.__class__.__name__)
            await attempt.aclose()
            return None
        if min_lsn is not None and (replayed is None or replayed < min_lsn):
            await attempt.aclose()
            return None
        await stack.enter_async_context(attempt)
        return Read(conn, "replica", replayed)

    async def _await_replay(self, driver: Any, min_lsn: int | None) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.read_your_writes_wait_s
        while True:
            replayed = await _lsn(driver, _REPLAY_LSN)
            if min_lsn is None or replayed >= min_lsn or loop.time() >= deadline:
                return replayed
            await asyncio.sleep(0.005)

    @asynccontextmanager
    async def driver(self, role: Role = "primary") -> AsyncIterator[Any]:
        """A raw asyncpg connection (autocommit) from the role's pool."""
        pool = self._pools.get(role)
        if pool is None:
            pool = await self._open_pool(role)
        # asyncio.timeout instead of acquire(timeout=...): that one wraps every acquire in
        # asyncio.wait_for, a sixth of an order write's CPU.
        async with asyncio.timeout(POOL_TIMEOUT_S):
            conn = await pool.acquire()
        try:
            yield conn
        finally:
            await pool.release(conn)

    async def _open_pool(self, role: Role) -> Any:
        async with self._pools_lock:
            if role not in self._pools:
                self._pools[role] = await asyncpg.create_pool(
                    **self._connect_args[role],
                    min_size=0,
                    max_size=self._pool_size,
                    max_inactive_connection_lifetime=300,
                    reset=_roll_back_if_in_transaction,
                    timeout=CONNECT_TIMEOUT_S,
                    command_timeout=COMMAND_TIMEOUT_S,
                    server_settings=SERVER_SETTINGS,
                )
            return self._pools[role]

    async def current_lsn(self) -> int:
        async with self.driver("primary") as conn:
            return await _lsn(conn, _INSERT_LSN)

    async def fetch_row(self, query: str, *args: object) -> Any:
        """One statement on the primary in a transaction of its own, in one round trip."""
        async with self.driver("primary") as conn:
            return await conn.fetchrow(query, *args)

    async def ping(self, role: Role) -> None:
        engine = self.primary if role == "primary" else (self.replica or self.primary)
        async with engine.connect() as conn:
            await conn.exec_driver_sql("select 1")

    def connections_in_use(self) -> dict[tuple[Role, str], int]:
        """Connections checked out now, by role and pool (engine: SQLAlchemy, driver: asyncpg)."""
        found: dict[tuple[Role, str], int] = {("primary", "engine"): _checked_out(self.primary)}
        if self.replica is not None:
            found[("replica", "engine")] = _checked_out(self.replica)
        for role, pool in self._pools.items():
            found[(role, "driver")] = pool.get_size() - pool.get_idle_size()
        return found

    async def replica_lag(self) -> tuple[float, int] | None:
        """How far the replica is behind: seconds since the last transaction it replayed (0 when
        it has replayed all the primary wrote) and bytes of WAL; None without a replica."""
        if self.replica is None:
            return None
        async with self.driver("primary") as primary:
            written = await _lsn(primary, _INSERT_LSN)
        async with self.driver("replica") as replica:
            row = await replica.fetchrow(_REPLICA_STATE)
        replayed = parse_lsn(row["replayed"])
        behind = max(written - replayed, 0)
        return (float(row["seconds"]) if behind else 0.0), behind

    async def dispose(self) -> None:
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            try:
                await asyncio.wait_for(pool.close(), POOL_TIMEOUT_S)
            except TimeoutError:
                pool.terminate()
        await self.primary.dispose()
        if self.replica is not None:
            await self.replica.dispose()


def _checked_out(engine: AsyncEngine) -> int:
    checkedout = getattr(engine.sync_engine.pool, "checkedout", None)
    return int(checkedout()) if callable(checkedout) else 0


async def _primary_as_of(driver: Any, track_lsn: bool) -> int | None:
    # A commit whose record precedes this position may not be visible yet, but its writer can
    # only report an LSN at or past it: every write reported below it is.
    return await _lsn(driver, _INSERT_LSN) - 1 if track_lsn else None


async def _itself(conn: Any) -> Any:
    return conn


async def _roll_back_if_in_transaction(conn: Any) -> None:
    """On release to the pool: asyncpg's default reset costs a round trip on every release;
    connections here are used in autocommit, so only an abandoned transaction needs undoing."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def _connect_args(engine: AsyncEngine) -> dict[str, Any]:
    """What the engine passes to asyncpg.connect for its URL (host, port, database, ssl...)."""
    args, kwargs = engine.dialect.create_connect_args(engine.url)
    if args:
        raise ValueError(f"unexpected positional connect arguments for {engine.url!r}")
    return dict(kwargs)


async def _lsn(driver: Any, query: str) -> int:
    """One WAL position, in one round trip outside any transaction (on the asyncpg connection)."""
    return parse_lsn(await driver.fetchval(query))


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
        # A connection the server dropped (a crashed and restarted primary) is found at
        # checkout and replaced, instead of failing the request that drew it with a 500.
        pool_pre_ping=True,
        connect_args={
            "timeout": CONNECT_TIMEOUT_S,
            "command_timeout": COMMAND_TIMEOUT_S,
            "server_settings": SERVER_SETTINGS,
        },
    )
