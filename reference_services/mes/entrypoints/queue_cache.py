"""Order queue pages of the operator screens, cached in Redis and dropped when their plant changes.

A page is cached under its plant and query, at the WAL position it was read at. Every write to an
order writes a tombstone on its plant's marker key at the commit LSN, and a cached page is served
only if it was read at or after the marker: a change anywhere in the plant (through the API or the
screens) makes every cached page of that plant stale at once, with no list of keys to delete.
"""

import hashlib
from collections.abc import Mapping

import orjson

from reference_services.platform.cache import VersionedCache
from reference_services.platform.outcome import Outcome


def _marker(plant: str) -> str:
    return f"queue:{plant}"


def page_key(plant: str, query: Mapping[str, str | int | None]) -> str:
    digest = hashlib.sha1(orjson.dumps(dict(sorted(query.items()))), usedforsecurity=False)
    return f"queue:{plant}:{digest.hexdigest()}"


async def cached_page(
    cache: VersionedCache, plant: str, key: str, min_lsn: int | None
) -> tuple[bytes | None, int | None]:
    """The cached page if it is current, and the WAL position a fresh read must reach: the
    plant's last change and `min_lsn` (the reader's own last write), whichever is later."""
    changed = await cache.changed_at(_marker(plant))
    floors = [lsn for lsn in (changed, min_lsn) if lsn is not None]
    floor = max(floors) if floors else None
    return await cache.get(key, floor), floor


async def order_changed(cache: VersionedCache, outcome: Outcome) -> None:
    """Drop the cached order and every cached queue page of its plant, as of the commit (one
    round trip, shared with the other changes that finish alongside)."""
    body = outcome.body
    await cache.invalidate(outcome.commit_lsn, f"order:{body['id']}", _marker(body["plant"]))
