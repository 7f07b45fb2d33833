"""Redis cache-aside whose entries remember the WAL position they were read at.

An entry is written only if it is newer than what the key holds, and a change writes a tombstone at
its commit LSN: a slow reader can never put back a version older than the latest change, and a
read that must see a given LSN ignores entries older than it. A read that misses learns the LSN
the key was last written at (`lookup`): reading the database at or past it, the reader sees the
change that tombstone stands for, and the entry it offers is accepted.

Reads are coalesced: the keys asked for while the event loop runs one round of callbacks go to
Redis as one MGET, sent once that round is done. Under load that is one round trip (and one
trip through redis-py's client) for many requests instead of one each; a lone read waits for
nothing but the end of the round it was asked in. A read inside a recorded span (an exporter is
configured) is a GET of its own, so that its request's trace shows it.

Tombstones are coalesced the same way: those asked for during one round of the event loop are
written by one script call (each key at the latest LSN asked for it), and every change waits for
that call before it answers. Writes that complete together (they share the round trip that reads
their commit LSN, see `Database.lsn_after_commits`) drop their keys in one round trip.
"""

import asyncio
import logging
from dataclasses import dataclass

from opentelemetry import trace
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# KEYS[i] gets ARGV[2 + i] unless it holds something newer (a later LSN; for a tombstone
# (ARGV[2]), the same LSN too); ARGV[1] is the TTL. Returns how many keys were written.
_PUT_IF_NEWER = """
local written = 0
for i, key in ipairs(KEYS) do
  local offered = ARGV[2 + i]
  local current = redis.call('GET', key)
  local held = current and string.sub(current, 1, 20)
  local at = string.sub(offered, 1, 20)
  if not held or held < at or (held == at and ARGV[2] ~= 'tombstone') then
    redis.call('SET', key, offered, 'EX', ARGV[1])
    written = written + 1
  end
end
return written
"""


@dataclass(frozen=True)
class Entry:
    lsn: int  # 0: the key holds nothing
    body: bytes | None


_NOTHING = Entry(0, None)


class VersionedCache:
    def __init__(self, redis: Redis, prefix: str, ttl_s: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.hits = 0
        self.misses = 0
        self._asked: dict[str, list[asyncio.Future[object]]] | None = None
        self._fetches: set[asyncio.Task[None]] = set()
        self._dropped: tuple[dict[str, int], list[asyncio.Future[None]]] | None = None

    async def get(self, key: str, min_lsn: int | None = None) -> bytes | None:
        return (await self.lookup(key, min_lsn)).body

    async def lookup(self, key: str, min_lsn: int | None = None) -> Entry:
        """The cached body (None on a miss) and the LSN the key was last written at: on a miss
        for a tombstone, the read that fills the entry must be at or past that LSN, or the entry
        it offers is older than the change and refused (see `put`)."""
        if trace.get_current_span().is_recording():
            raw = await self._read_alone(self.prefix + key)  # its own GET, in its own trace
        else:
            raw = await self._read(self.prefix + key)
        entry = _decode(raw) if isinstance(raw, bytes) else _NOTHING
        if entry.body is None or (min_lsn is not None and entry.lsn < min_lsn):
            self.misses += 1
            return Entry(entry.lsn, None)
        self.hits += 1
        return entry

    async def _read_alone(self, full_key: str) -> object:
        try:
            return await self.redis.get(full_key)
        except RedisError as exc:
            log.warning("cache bypassed: %s", exc.__class__.__name__)
            return None

    def _read(self, full_key: str) -> "asyncio.Future[object]":
        """The raw value of `full_key` (None when missing or Redis fails), from the next MGET."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[object] = loop.create_future()
        if self._asked is None:
            self._asked = {}
            loop.call_soon(self._fetch_asked)
        self._asked.setdefault(full_key, []).append(answer)
        return answer

    def _fetch_asked(self) -> None:
        asked, self._asked = self._asked or {}, None
        fetch = asyncio.ensure_future(self._fetch(asked))
        self._fetches.add(fetch)  # a reference, so the task is not collected while it runs
        fetch.add_done_callback(self._fetches.discard)

    async def _fetch(self, asked: dict[str, list[asyncio.Future[object]]]) -> None:
        keys = list(asked)
        try:
            values = list(await self.redis.mget(keys))
        except RedisError as exc:
            log.warning("cache bypassed: %s", exc.__class__.__name__)
            values = [None] * len(keys)
        except asyncio.CancelledError:
            for answer in _pending(asked):
                answer.cancel()
            raise
        except Exception as exc:
            for answer in _pending(asked):
                answer.set_exception(exc)
            return
        for key, value in zip(keys, values, strict=True):
            for answer in asked[key]:
                if not answer.done():  # its request may have been cancelled meanwhile
                    answer.set_result(value)

    async def changed_at(self, key: str) -> int | None:
        """The LSN the key's entry or tombstone was written at (None: nothing held): a marker key
        that only ever gets tombstones tells when something it stands for last changed."""
        try:
            raw = await self.redis.get(self.prefix + key)
        except RedisError as exc:
            log.warning("cache bypassed: %s", exc.__class__.__name__)
            return None
        return _decode(raw).lsn if isinstance(raw, bytes) else None

    async def put(self, key: str, lsn: int, body: bytes) -> None:
        """Cache what a read saw at `lsn` (see Read.as_of_lsn)."""
        await self._put_raw("entry", {self.prefix + key: _encode(lsn, body)})

    async def invalidate(self, lsn: int, *keys: str) -> None:
        """Write tombstones on `keys` at a change's commit LSN (with other changes' tombstones
        asked for in the same round of the event loop; inside a recorded span, on their own)."""
        full_keys = [self.prefix + key for key in keys]
        if trace.get_current_span().is_recording():
            await self._put_raw("tombstone", {key: _encode(lsn, None) for key in full_keys})
            return
        loop = asyncio.get_running_loop()
        written: asyncio.Future[None] = loop.create_future()
        if self._dropped is None:
            self._dropped = ({}, [])
            loop.call_soon(self._write_dropped)
        latest, waiting = self._dropped
        for key in full_keys:
            if latest.get(key, -1) < lsn:
                latest[key] = lsn
        waiting.append(written)
        await written

    def _write_dropped(self) -> None:
        (latest, waiting), self._dropped = self._dropped or ({}, []), None
        tombstones = {key: _encode(lsn, None) for key, lsn in latest.items()}
        writing = asyncio.ensure_future(self._put_raw("tombstone", tombstones))
        self._fetches.add(writing)  # a reference, so the task is not collected while it runs
        writing.add_done_callback(self._fetches.discard)
        writing.add_done_callback(lambda done: _settle(done, waiting))

    async def _put_raw(self, kind: str, values: dict[str, bytes]) -> None:
        try:
            # EVAL, not EVALSHA: a restarted Redis has no scripts loaded, and EVALSHA's NOSCRIPT
            # (which redis-py answers by loading the script) would leave an error in the trace.
            await self.redis.eval(
                _PUT_IF_NEWER, len(values), *values, self.ttl_s, kind, *values.values()
            )
        except RedisError as exc:
            log.warning("cache write skipped: %s", exc.__class__.__name__)


def _pending(
    asked: dict[str, list["asyncio.Future[object]"]],
) -> list["asyncio.Future[object]"]:
    return [answer for answers in asked.values() for answer in answers if not answer.done()]


def _settle(done: "asyncio.Future[None]", waiting: list["asyncio.Future[None]"]) -> None:
    """Pass the outcome of a coalesced write to the changes that wait for it."""
    for waiter in waiting:
        if waiter.done():  # its request may have been cancelled meanwhile
            continue
        if done.cancelled():
            waiter.cancel()
        elif (error := done.exception()) is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(None)


def _encode(lsn: int, body: bytes | None) -> bytes:
    return b"%020d|" % lsn + (body or b"")


def _decode(raw: bytes) -> Entry:
    lsn, _, body = raw.partition(b"|")
    return Entry(int(lsn), body or None)
