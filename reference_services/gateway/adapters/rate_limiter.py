"""Per-caller token buckets in Redis: one EVALSHA per request, atomic across gateway replicas.

The script is domain/token_bucket.take run inside Redis on the bucket stored under the caller's
key (a hash of tokens and last update, expiring once it would be full again). Time is Redis's own
clock, so replicas with skewed clocks share buckets correctly.

When Redis fails the gateway fails open: the request is let through, the error is logged and
counted, and Redis is not asked again for `bypass_s` (so that an unreachable Redis does not add
its timeout to every request).
"""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

log = logging.getLogger(__name__)

TOKEN_BUCKET = """
local per_second = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if now == nil then
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1])
local updated = tonumber(state[2])
if tokens == nil or updated == nil then
  tokens = burst
  updated = now
end
local elapsed = now - updated
if elapsed < 0 then
  elapsed = 0
end
tokens = math.min(burst, tokens + elapsed * per_second)
local allowed = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait = (cost - tokens) / per_second
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
  'updated', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst / per_second + 1) * 1000))
return {allowed, string.format('%.17g', tokens), string.format('%.17g', wait)}
"""


@dataclass(frozen=True)
class Allowance:
    allowed: bool
    retry_after_s: float
    tokens_left: float


@dataclass
class _Pending:
    key: str
    args: tuple[float, int, int, float | str]
    answer: "asyncio.Future[Any]"


class RateLimiter:
    """One EVALSHA per request; requests that arrive while a round trip is in flight go out
    together in the next one (a pipeline, not a transaction: each script runs atomically on its
    own), so that under load a Redis round trip and its system calls serve many requests."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "gateway:ratelimit:",
        bypass_s: float = 1.0,
        on_error: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.bypass_s = bypass_s
        self.on_error = on_error
        self.clock = clock
        self._script = redis.register_script(TOKEN_BUCKET)
        self._loaded = False  # loaded before the first EVALSHA, which would fail (NOSCRIPT)
        self._bypass_until = 0.0
        self._queue: list[_Pending] = []
        self._sending = False

    def key(self, subject: str) -> str:
        return self.prefix + subject

    async def take(
        self, subject: str, per_second: float, burst: int, *, now: float | None = None
    ) -> Allowance:
        """Take a token from the caller's bucket (`now`: seconds, for tests; else Redis time)."""
        if self._bypass_until and self.clock() < self._bypass_until:
            return Allowance(True, 0.0, float(burst))
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        args = (per_second, burst, 1, "" if now is None else now)
        self._queue.append(_Pending(self.prefix + subject, args, answer))
        if not self._sending:
            self._sending = True
            asyncio.get_running_loop().create_task(self._send_queued())
        try:
            allowed, tokens, wait = await answer
        except RedisError as exc:
            if not (self._bypass_until and self.clock() < self._bypass_until):
                self._bypass_until = self.clock() + self.bypass_s
                log.warning(
                    "rate limiting bypassed for %.1fs: Redis failed (%s)",
                    self.bypass_s,
                    exc.__class__.__name__,
                )
            if self.on_error is not None:
                self.on_error()
            return Allowance(True, 0.0, float(burst))
        self._bypass_until = 0.0
        return Allowance(allowed == 1, float(wait), float(tokens))

    async def _send_queued(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                await self._send(batch)
        finally:
            self._sending = False

    async def _send(self, batch: list[_Pending]) -> None:
        try:
            if not self._loaded:
                await self.redis.script_load(TOKEN_BUCKET)
                self._loaded = True
            results = await self._evalsha(batch)
            if any(isinstance(result, NoScriptError) for result in results):
                await self.redis.script_load(TOKEN_BUCKET)
                results = await self._evalsha(batch)
        except RedisError as exc:
            results = [exc] * len(batch)
        except BaseException as exc:
            for pending in batch:
                if not pending.answer.done():
                    pending.answer.set_exception(RedisError(f"rate limiter: {exc!r}"))
            raise
        for pending, result in zip(batch, results, strict=True):
            if pending.answer.done():
                continue
            if isinstance(result, BaseException):
                pending.answer.set_exception(result)
            else:
                pending.answer.set_result(result)

    async def _evalsha(self, batch: list[_Pending]) -> list[Any]:
        if len(batch) == 1:
            pending = batch[0]
            try:
                return [await self.redis.evalsha(self._script.sha, 1, pending.key, *pending.args)]
            except NoScriptError as exc:
                return [exc]
        pipe = self.redis.pipeline(transaction=False)
        for pending in batch:
            pipe.evalsha(self._script.sha, 1, pending.key, *pending.args)
        results: list[Any] = await pipe.execute(raise_on_error=False)
        return results
