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

    def last_sequence(self) -> int:
        """The `sequence` (outbox position) of the stream's last entry; 0 when it is empty."""
        last: list[tuple[bytes, dict[bytes, bytes]]] = self.redis.xrevrange(  # type: ignore[assignment]
            self.stream, count=1
        )
        if not last or ENVELOPE not in last[0][1]:
            return 0
        return int(orjson.loads(last[0][1][ENVELOPE]).get("sequence", 0))

    def wait_for_sequence(self, position: int, *, timeout: float = 20) -> int:
        """Wait until the relay has published up to outbox position `position`."""
        return (
            wait_until(
                lambda: (found := self.last_sequence()) >= position and found,
                timeout=timeout,
                interval=0.05,
                description=f"the relay to publish outbox position {position}",
                ignored_exceptions=(RedisConnectionError,),
            )
            if position > 0
            else 0
        )

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
