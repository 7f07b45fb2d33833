"""Group commit: writes of one kind asked for in the same round of the event loop commit together.

A `GroupCommit` owns one statement that writes a batch of rows given as parameter arrays (one
array per column, `$1` to `$k`, e.g. `unnest($1::uuid[], ...) WITH ORDINALITY AS i(..., n)`) and
returns a row with column `n` (the row's 1-based place in the batch) for each row it wrote. The
rows asked for during one round of the event loop go to PostgreSQL as one statement: one round
trip, one commit and one WAL flush for all of them instead of one each, which under load is most
of what a small write costs its client and the server. Each caller then gets its own row (None
when the statement wrote nothing for it, e.g. ON CONFLICT DO NOTHING) and a commit LSN read after
the commit (`Database.lsn_after_commits`).

The rows of a batch commit or fail together, so that a row the database refuses cannot take the
others with it: when a batch of several fails with a data or integrity error (SQLSTATE classes 22
and 23, a foreign key violation say) or is rolled back as a deadlock's victim (class 40), each of
its rows is written again on its own, and only the rows that fail alone fail. Any other error
(the database unreachable) is every caller's. The batch runs outside the callers' contexts and is
not cancelled with a caller: a request that goes away after asking still has its write committed
or not, as when it goes away during its own statement. A caller inside a recorded span writes on
its own, so its trace shows its statement.
"""

import asyncio
import contextvars
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import asyncpg
from opentelemetry import trace

if TYPE_CHECKING:
    from reference_services.platform.db import Database

MAX_ROWS = 100
"""Rows per statement at most; more asked for in one round go as several statements."""

_REWRITE_ALONE = ("22", "23", "40")  # data exception, integrity violation, transaction rollback


class GroupCommit:
    def __init__(self, db: "Database", statement: str, *, max_rows: int = MAX_ROWS) -> None:
        self.db = db
        self.statement = statement
        self.max_rows = max_rows
        self.batches = 0
        """Statements sent (batches and rows written again alone), for tests and metrics."""
        self._asked: list[tuple[Sequence[object], asyncio.Future[Any]]] | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def write(self, row: Sequence[object]) -> tuple[Any, int]:
        """Commit `row` (its columns, in the statement's parameter order): the statement's row
        for it (None: it wrote nothing for it) and a WAL position at or past its commit."""
        if trace.get_current_span().is_recording():
            written = await self._run([row])
            return written[0], await self.db.lsn_after_commits()
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()
        if self._asked is None:
            self._asked = []
            # An empty context: the batch belongs to none of the requests in it.
            loop.call_soon(self._write_asked, context=contextvars.Context())
        self._asked.append((row, answer))
        result: tuple[Any, int] = await answer
        return result

    def _write_asked(self) -> None:
        asked, self._asked = self._asked or [], None
        for start in range(0, len(asked), self.max_rows):
            task = asyncio.ensure_future(self._write_batch(asked[start : start + self.max_rows]))
            self._running.add(task)  # a reference, so the task is not collected while it runs
            task.add_done_callback(self._running.discard)

    async def _write_batch(
        self, asked: list[tuple[Sequence[object], "asyncio.Future[Any]"]]
    ) -> None:
        rows = [row for row, _ in asked]
        try:
            written = await self._run(rows)
        except asyncpg.PostgresError as exc:
            if len(asked) == 1 or not str(getattr(exc, "sqlstate", "")).startswith(_REWRITE_ALONE):
                _fail(asked, exc)
                return
            await asyncio.gather(*(self._write_alone(row, answer) for row, answer in asked))
            return
        except asyncio.CancelledError:
            for _, answer in asked:
                answer.cancel()
            raise
        except Exception as exc:
            _fail(asked, exc)
            return
        try:
            lsn = await self.db.lsn_after_commits()
        except Exception as exc:
            _fail(asked, exc)
            return
        for (_, answer), result in zip(asked, written, strict=True):
            if not answer.done():  # its request may have been cancelled meanwhile
                answer.set_result((result, lsn))

    async def _write_alone(self, row: Sequence[object], answer: "asyncio.Future[Any]") -> None:
        try:
            written = await self._run([row])
            lsn = await self.db.lsn_after_commits()
        except Exception as exc:
            _fail([(row, answer)], exc)
            return
        if not answer.done():
            answer.set_result((written[0], lsn))

    async def _run(self, rows: list[Sequence[object]]) -> list[Any]:
        """One statement for `rows`: for each row, the statement's row with its `n`, or None."""
        columns = [list(column) for column in zip(*rows, strict=True)]
        self.batches += 1
        async with self.db.driver("primary") as conn:
            records = await conn.fetch(self.statement, *columns)
        by_place: dict[int, Any] = {record["n"]: record for record in records}
        return [by_place.get(place) for place in range(1, len(rows) + 1)]


def _fail(asked: list[tuple[Sequence[object], "asyncio.Future[Any]"]], exc: BaseException) -> None:
    for _, answer in asked:
        if not answer.done():
            answer.set_exception(exc)
