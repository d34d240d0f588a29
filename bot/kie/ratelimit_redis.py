"""KIE's client-side limits shared by every instance of the bot (REDIS_URL set).

`RedisWindowLimiter` has the interface and the rule of `SlidingWindowLimiter` (ratelimit.py): at most
`limit` permits in any `window_s`, a permit held by `hold()` counting until the later of "sent +
margin" and "answered". It is a token bucket of `limit` tokens in Redis in which each token comes back
one window after it was spent. (A bucket refilled at a steady `limit / window_s` rate would let through
a full bucket plus a window's refill, up to twice KIE's "20 per 10 s" within 10 s; KIE refuses those.)

The bucket is a sorted set `<prefix>:<account>:<name>`: one member per spent token, scored by the
moment (µs) the token comes back into play minus one window, i.e. when its slot ends. One Lua
script, run atomically by Redis and timed by Redis's own clock (TIME, so the instances' clocks do not
matter), drops the slots that ended a window ago, and either spends a token or says how long to wait.
A token taken by `hold()` is scored "now + IN_FLIGHT_LEASE_S" until its answer arrives, so the
token of an instance that died mid-call comes back anyway.

Within one process waiters queue in order (an asyncio.Lock, as in ratelimit.py); across instances
they race for the tokens. When Redis fails, the process falls back to its own in-process limiter
(the limit then holds per instance, not for the deployment) and says so in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.coordination.connection import raise_if_cancelled
from bot.kie.ratelimit import Limiter, PositionListener, SlidingWindowLimiter, Waiter, WaitingLine

log = logging.getLogger(__name__)

# A token held by a call that never reports back (its instance died) returns after this plus a window.
IN_FLIGHT_LEASE_S = 120.0
# Redis failures are logged at most once per this many seconds per limiter.
FAILURE_LOG_EVERY_S = 60.0

# The bucket lives until its last slot has ended a window ago (never shortened by a later call).
_KEEP = """
local function keep(key, window, now)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] then
    redis.call('PEXPIRE', key, math.ceil((tonumber(last[2]) + window - now) / 1000) + 1000)
  end
end
"""

# KEYS[1] the bucket. ARGV: limit, window (µs), slot end offset from now (µs), member.
# Returns {1, now} when a token was spent, {0, wait µs} when not.
_TAKE = _KEEP + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local ends = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now + ends, ARGV[4])
  keep(key, window, now)
  return {1, now}
end
local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
local earliest = math.min(tonumber(first[2]), now)
return {0, earliest + window - now}
"""

# KEYS[1] the bucket. ARGV: window (µs), earliest end (µs: granted + margin), member.
# The slot ends now, or at the earliest end if that is later; a slot already dropped stays dropped.
_RELEASE = _KEEP + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ends = math.max(now, tonumber(ARGV[2]))
if redis.call('ZADD', KEYS[1], 'XX', 'CH', ends, ARGV[3]) == 1 then
  keep(KEYS[1], tonumber(ARGV[1]), now)
end
return ends
"""

_US = 1_000_000


class RedisWindowLimiter:
    """At most `limit` permits in any rolling `window_s`, for every instance using bucket `key`."""

    def __init__(
        self,
        redis: Redis,
        key: str,
        limit: int,
        window_s: float,
        *,
        safety_margin_s: float = 0.0,
        in_flight_lease_s: float = IN_FLIGHT_LEASE_S,
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("limit must be >= 1 and window_s > 0")
        self.redis = redis
        self.key = key
        self.limit = limit
        self.window_s = window_s
        self._window_us = max(1, round(window_s * _US))
        self._margin_us = max(0, round(safety_margin_s * _US))
        self._lease_us = max(self._margin_us, round(in_flight_lease_s * _US))
        self._take_script: Any = redis.register_script(_TAKE)
        self._release_script: Any = redis.register_script(_RELEASE)
        self._line = asyncio.Lock()
        # This instance's callers waiting for a token, told their place (the queue position a user
        # sees); callers of other instances are not counted in it.
        self.line = WaitingLine()
        self._fallback = SlidingWindowLimiter(limit, window_s, safety_margin_s=safety_margin_s)
        self._failure_logged_at = -FAILURE_LOG_EVERY_S
        self.total_wait_s = 0.0
        self.granted = 0

    async def _take(
        self, in_flight: bool, listener: PositionListener | None = None
    ) -> tuple[str, int] | None:
        """Spend a token: (member, granted at µs), or None when Redis failed (use the fallback)."""
        waiter = self.line.join(listener)
        try:
            return await self._take_in_line(in_flight, waiter)
        finally:
            self.line.leave(waiter)

    async def _take_in_line(self, in_flight: bool, waiter: Waiter) -> tuple[str, int] | None:
        asked_at = time.monotonic()
        member = secrets.token_hex(8)
        ends = self._lease_us if in_flight else self._margin_us
        async with self._line:
            while True:
                try:
                    spent, value = await self._take_script(
                        keys=[self.key], args=[self.limit, self._window_us, ends, member]
                    )
                except RedisError as exc:
                    self._redis_failed(exc)
                    return None
                if int(spent) == 1:
                    try:
                        raise_if_cancelled()
                    except asyncio.CancelledError:
                        if in_flight:
                            await self._release(member, int(value))
                        raise
                    self.granted += 1
                    self.total_wait_s += time.monotonic() - asked_at
                    return member, int(value)
                raise_if_cancelled()
                self.line.waits_at_head(waiter)
                await asyncio.sleep(max(int(value), 1) / _US)

    async def _release(self, member: str, granted_us: int) -> None:
        try:
            await self._release_script(
                keys=[self.key], args=[self._window_us, granted_us + self._margin_us, member]
            )
        except RedisError as exc:
            # The token comes back after the in-flight lease instead.
            self._redis_failed(exc)

    def _redis_failed(self, exc: RedisError) -> None:
        now = time.monotonic()
        if now - self._failure_logged_at >= FAILURE_LOG_EVERY_S:
            self._failure_logged_at = now
            log.warning(
                "KIE limit %s: Redis failed (%s); this instance limits itself alone meanwhile", self.key, exc
            )

    async def acquire(self) -> None:
        if await self._take(in_flight=False) is None:
            await self._fallback.acquire()

    @contextlib.asynccontextmanager
    async def hold(self, listener: PositionListener | None = None) -> AsyncIterator[None]:
        taken = await self._take(in_flight=True, listener=listener)
        if taken is None:
            async with self._fallback.hold(listener):
                yield
            return
        try:
            yield
        finally:
            await self._release(*taken)

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        return None


class RedisLimiters:
    """The LimiterFactory for KIE's limits when REDIS_URL is set: bucket `<prefix>:<name>`."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def __call__(self, name: str, limit: int, window_s: float, *, safety_margin_s: float) -> Limiter:
        return RedisWindowLimiter(
            self.redis, f"{self.prefix}:{name}", limit, window_s, safety_margin_s=safety_margin_s
        )
