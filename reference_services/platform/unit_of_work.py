"""A unit of work: one transaction on the primary, committed with whatever it must write too."""

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection

from reference_services.platform.db import Database, Write


class UnitOfWork:
    """Subclasses open their repositories on the connection (`opened`) and may add rows that
    must commit with the change, such as outbox events (`before_commit`). After the block,
    `commit_lsn` is the WAL position the commit reached."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.commit_lsn = 0

    def opened(self, conn: AsyncConnection) -> None:
        """Called with the transaction's connection before the block runs."""

    async def before_commit(self) -> None:
        """Called when the block ended without an error, still inside the transaction."""

    def after_commit(self) -> None:
        """Called once the transaction committed (metrics, logs: nothing that can fail it)."""

    async def __aenter__(self) -> Self:
        self._transaction = self.db.write()
        self._write: Write = await self._transaction.__aenter__()
        self.conn = self._write.conn
        self.opened(self.conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            try:
                await self.before_commit()
            except BaseException as failure:
                await self._transaction.__aexit__(type(failure), failure, failure.__traceback__)
                raise
        await self._transaction.__aexit__(exc_type, exc, tb)
        self.commit_lsn = self._write.commit_lsn
        if exc is None:
            self.after_commit()
