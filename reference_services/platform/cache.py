"""Redis cache-aside whose entries remember the WAL position they were read at.

An entry is written only if it is newer than what the key holds, and a change writes a tombstone at
its commit LSN: a slow reader can never put back a version older than the latest change, and a
read that must see a given LSN ignores entries older than it.
"""

import logging
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

_PUT_IF_NEWER = """
local current = redis.call('GET', KEYS[1])
if current then
  local held, offered = string.sub(current, 1, 20), string.sub(ARGV[1], 1, 20)
  if held > offered or (held == offered and ARGV[3] == 'tombstone') then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


@dataclass(frozen=True)
class Entry:
    lsn: int
    body: bytes | None


class VersionedCache:
    def __init__(self, redis: Redis, prefix: str, ttl_s: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl_s = ttl_s
        self._put = redis.register_script(_PUT_IF_NEWER)
        self._loaded = False  # loaded before the first EVALSHA, which would fail (NOSCRIPT)
        self.hits = 0
        self.misses = 0

    async def get(self, key: str, min_lsn: int | None = None) -> bytes | None:
        try:
            raw = await self.redis.get(self.prefix + key)
        except RedisError as exc:
            log.warning("cache bypassed: %s", exc.__class__.__name__)
            raw = None
        entry = _decode(raw) if isinstance(raw, bytes) else None
        if entry is None or entry.body is None or (min_lsn is not None and entry.lsn < min_lsn):
            self.misses += 1
            return None
        self.hits += 1
        return entry.body

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
        await self._put_raw(key, _encode(lsn, body), "entry")

    async def invalidate(self, key: str, lsn: int) -> None:
        """Write a tombstone at a change's commit LSN."""
        await self._put_raw(key, _encode(lsn, None), "tombstone")

    async def _put_raw(self, key: str, value: bytes, kind: str) -> None:
        try:
            if not self._loaded:
                await self.redis.script_load(_PUT_IF_NEWER)
                self._loaded = True
            await self._put(keys=[self.prefix + key], args=[value, self.ttl_s, kind])
        except RedisError as exc:
            log.warning("cache write skipped: %s", exc.__class__.__name__)


def _encode(lsn: int, body: bytes | None) -> bytes:
    return b"%020d|" % lsn + (body or b"")


def _decode(raw: bytes) -> Entry:
    lsn, _, body = raw.partition(b"|")
    return Entry(int(lsn), body or None)
