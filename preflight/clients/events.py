"""Reader of an event stream (Redis Streams) for tests: what was published after a mark."""

from collections.abc import Callable, Collection
from types import TracebackType
from typing import Any, Self

import orjson
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from preflight.waits import wait_until

ENVELOPE = b"envelope"


class EventStream:
    def __init__(self, redis_url: str, stream: str = "mes.events") -> None:
        self.redis = Redis.from_url(redis_url, socket_timeout=10)
        self.stream = stream

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.redis.close()

    def mark(self) -> str:
        """The id of the stream's last entry now: `since(mark)` returns only later entries."""
        last: list[tuple[bytes, dict[bytes, bytes]]] = self.redis.xrevrange(self.stream, count=1)  # type: ignore[assignment]
        return last[0][0].decode() if last else "0-0"

    def since(self, mark: str = "0-0", *, batch: int = 5000) -> list[dict[str, Any]]:
        """Every envelope after `mark`, in stream order, as JSON documents with their entry id
        under `_entry`."""
        found: list[dict[str, Any]] = []
        start = f"({mark}" if mark != "0-0" else "-"
        while True:
            entries: list[tuple[bytes, dict[bytes, bytes]]] = self.redis.xrange(  # type: ignore[assignment]
                self.stream, min=start, count=batch
            )
            for entry_id, fields in entries:
                document = orjson.loads(fields[ENVELOPE]) if ENVELOPE in fields else {}
                found.append(document | {"_entry": entry_id.decode()})
            if len(entries) < batch:
                return found
            start = f"({entries[-1][0].decode()}"

    def about(self, subjects: Collection[str], mark: str = "0-0") -> list[dict[str, Any]]:
        """The envelopes after `mark` whose subject (the order id) is one of `subjects`."""
        wanted = set(subjects)
        return [e for e in self.since(mark) if e.get("subject") in wanted]

    def wait_for(
        self,
        subjects: Collection[str],
        done: Callable[[list[dict[str, Any]]], bool],
        *,
        mark: str = "0-0",
        timeout: float = 20,
        description: str = "events on the stream",
    ) -> list[dict[str, Any]]:
        def published() -> list[dict[str, Any]] | None:
            events = self.about(subjects, mark)
            return events if done(events) else None

        return wait_until(
            published,
            timeout=timeout,
            interval=0.1,
            description=description,
            ignored_exceptions=(RedisConnectionError,),
        )
