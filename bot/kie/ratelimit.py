"""Process-wide client-side rate limiters for KIE calls (with REDIS_URL, the KIE client gets the
deployment-wide ones of ratelimit_redis.py instead: same interface, same rule).

KIE allows 20 new generation requests per 10 s per account and rejects (does not queue) the excess
with 429; status polling is capped at 10 requests/s per key (kie-api.md §3.5). We would rather wait
in line here than turn a burst of orders into a burst of 429s, so every create and status call first
takes a permit.

Fairness: waiters are served strictly in arrival order. `asyncio.Lock` hands itself to waiters FIFO,
and the lock is held while the head of the line sleeps for its slot, so nobody can overtake.

Why `hold()`: KIE counts a request when it *arrives*, which is somewhere between the moment we send
it and the moment its answer comes back. A slot held by `hold()` ends at the later of "sent + margin"
and "answered", and the next request on it may go one window after that. That is never earlier than
one window after KIE counted it, whatever the latency spread (a first burst that had to open 20 new
connections, a slow answer): the arrival lies before the answer. When the answer is quicker than the
margin the slot ends at "sent + margin", which also covers the arrival (it came before the answer),
so a fast round trip costs the margin per window and not margin plus the round trip (the old rule
counted from the answer *and* added the margin: ~4 % of a 1 s window at a 20 ms round trip).

Both limiters take an injectable `clock` (seconds, monotonic) and `sleep` so tests can run on a fake
clock without real waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
# Told a waiter's place in line (1: next to be served) whenever it has to wait and as the line moves.
PositionListener = Callable[[int], None]
# Float rounding can leave a sleeper a hair short of its slot; with a fake clock that would loop.
_EPSILON_S = 1e-9


class _Slot:
    """One permit. `ends_at` is None while its request is in flight; `granted_at` is when it was sent."""

    __slots__ = ("ends_at", "granted_at")

    def __init__(self, granted_at: float, ends_at: float | None) -> None:
        self.granted_at = granted_at
        self.ends_at = ends_at


class Waiter:
    __slots__ = ("listener", "told")

    def __init__(self, listener: PositionListener | None) -> None:
        self.listener = listener
        self.told: int | None = None


class WaitingLine:
    """The callers waiting for a permit, in order (the limiters serve strictly FIFO), so that each
    can be told its place: when it joins behind others, when it is at the head but must wait for a
    slot, and each time someone ahead of it leaves. A caller served at once is told nothing."""

    def __init__(self) -> None:
        self._waiters: list[Waiter] = []

    def __len__(self) -> int:
        return len(self._waiters)

    def join(self, listener: PositionListener | None) -> Waiter:
        waiter = Waiter(listener)
        self._waiters.append(waiter)
        if len(self._waiters) > 1:
            self._tell(waiter, len(self._waiters))
        return waiter

    def waits_at_head(self, waiter: Waiter) -> None:
        self._tell(waiter, 1)

    def leave(self, waiter: Waiter) -> None:
        if waiter not in self._waiters:
            return
        self._waiters.remove(waiter)
        for place, behind in enumerate(self._waiters, start=1):
            if behind.told is not None:
                self._tell(behind, place)

    @staticmethod
    def _tell(waiter: Waiter, place: int) -> None:
        if waiter.listener is None or waiter.told == place:
            return
        waiter.told = place
        try:
            waiter.listener(place)
        except Exception:  # a listener's bug must not break the line
            logging.getLogger(__name__).exception("Waiting-line listener failed")


class SlidingWindowLimiter:
    """At most `limit` permits in any rolling window of `window_s` seconds.

    `acquire()` counts the permit from the moment it is granted plus `safety_margin_s`; `hold()` from
    the later of that and the moment the caller's block ends (the answer arrived), and an in-flight
    permit occupies the window. `safety_margin_s` covers clock and counting differences at KIE.
    """

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        safety_margin_s: float = 0.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("limit must be >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self._margin_s = max(0.0, safety_margin_s)
        self._clock = clock
        self._sleep = sleep
        self._slots: list[_Slot] = []
        self._line = asyncio.Lock()
        self._released = asyncio.Event()
        self.line = WaitingLine()
        self.total_wait_s = 0.0  # observability: how long callers queued in total
        self.granted = 0

    @classmethod
    def per_second(
        cls,
        rate_per_s: float,
        *,
        safety_margin_s: float = 0.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> SlidingWindowLimiter:
        """A rate like 10/s as "10 per 1 s"; fractional rates (2.5/s) become "3 per 1.2 s"."""
        limit, window_s = per_second_shape(rate_per_s)
        return cls(limit, window_s, safety_margin_s=safety_margin_s, clock=clock, sleep=sleep)

    async def _take(self, in_flight: bool, listener: PositionListener | None = None) -> _Slot:
        asked_at = self._clock()
        waiter = self.line.join(listener)
        try:
            async with self._line:
                return await self._wait_for_slot(in_flight, asked_at, waiter)
        finally:
            self.line.leave(waiter)

    async def _wait_for_slot(self, in_flight: bool, asked_at: float, waiter: Waiter) -> _Slot:
        while True:
            now = self._clock()
            horizon = now - self.window_s + _EPSILON_S
            self._slots = [s for s in self._slots if s.ends_at is None or s.ends_at > horizon]
            if len(self._slots) < self.limit:
                slot = _Slot(now, None if in_flight else now + self._margin_s)
                self._slots.append(slot)
                self.granted += 1
                self.total_wait_s += now - asked_at
                return slot
            self.line.waits_at_head(waiter)
            finished = [s.ends_at for s in self._slots if s.ends_at is not None]
            if finished:
                # A release can only end later than this, so the earliest expiry is the next chance.
                await self._sleep(min(finished) + self.window_s - now)
            else:
                self._released.clear()
                await self._released.wait()

    def _release(self, slot: _Slot) -> None:
        # The arrival at KIE lies between the grant and the answer: counting from the answer is
        # always safe; a quicker answer still keeps the margin after the grant.
        slot.ends_at = max(self._clock(), slot.granted_at + self._margin_s)
        self._released.set()

    async def acquire(self) -> None:
        await self._take(in_flight=False)

    @contextlib.asynccontextmanager
    async def hold(self, listener: PositionListener | None = None) -> AsyncIterator[None]:
        """A permit for the block; `listener` is told this caller's place while it waits."""
        slot = await self._take(in_flight=True, listener=listener)
        try:
            yield
        finally:
            self._release(slot)

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        return None


class TokenBucketLimiter:
    """`rate_per_s` permits per second on average, bursts of at most `capacity`.

    With capacity 1 this spaces calls evenly (one every 1/rate s), the gentlest shape for a server
    whose counting method we do not know.
    """

    def __init__(
        self,
        rate_per_s: float,
        capacity: float = 1.0,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate_per_s <= 0 or capacity < 1:
            raise ValueError("rate_per_s must be > 0 and capacity >= 1")
        self.rate_per_s = rate_per_s
        self.capacity = capacity
        self._clock = clock
        self._sleep = sleep
        self._tokens = capacity
        self._updated_at = clock()
        self._line = asyncio.Lock()
        self.line = WaitingLine()
        self.total_wait_s = 0.0
        self.granted = 0

    def _refill(self, now: float) -> None:
        self._tokens = min(self.capacity, self._tokens + (now - self._updated_at) * self.rate_per_s)
        self._updated_at = now

    async def acquire(self, listener: PositionListener | None = None) -> None:
        asked_at = self._clock()
        waiter = self.line.join(listener)
        try:
            async with self._line:
                while True:
                    now = self._clock()
                    self._refill(now)
                    if self._tokens >= 1 - _EPSILON_S:
                        self._tokens = max(0.0, self._tokens - 1)
                        self.granted += 1
                        self.total_wait_s += now - asked_at
                        return
                    self.line.waits_at_head(waiter)
                    await self._sleep((1 - self._tokens) / self.rate_per_s)
        finally:
            self.line.leave(waiter)

    @contextlib.asynccontextmanager
    async def hold(self, listener: PositionListener | None = None) -> AsyncIterator[None]:
        await self.acquire(listener)
        yield

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        return None


class Unlimited:
    """A limiter that never waits (benchmarks of per-call overhead, tests that don't care)."""

    granted = 0
    total_wait_s = 0.0

    async def acquire(self) -> None:
        return None

    @contextlib.asynccontextmanager
    async def hold(self, listener: PositionListener | None = None) -> AsyncIterator[None]:
        yield

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc_info: object) -> None:
        return None


class Limiter(Protocol):
    """What the KIE client needs of a limiter (the ones here; RedisWindowLimiter in ratelimit_redis.py)."""

    granted: int
    total_wait_s: float

    async def acquire(self) -> None: ...

    def hold(
        self, listener: PositionListener | None = None
    ) -> contextlib.AbstractAsyncContextManager[None]: ...


class LimiterFactory(Protocol):
    """Makes the limiter named `name` (e.g. "<account>:create"): at most `limit` permits per `window_s`."""

    def __call__(self, name: str, limit: int, window_s: float, *, safety_margin_s: float) -> Limiter: ...


def per_second_shape(rate_per_s: float) -> tuple[int, float]:
    """A rate like 10/s as (10, 1 s); fractional rates (2.5/s) as (3, 1.2 s)."""
    limit = max(1, math.ceil(rate_per_s))
    return limit, limit / rate_per_s


def local_limiter(name: str, limit: int, window_s: float, *, safety_margin_s: float) -> Limiter:
    """The in-process LimiterFactory: limits hold for this process only."""
    return SlidingWindowLimiter(limit, window_s, safety_margin_s=safety_margin_s)


class PerKeyLimiter:
    """One limiter per key (e.g. 10 status calls per second *per task id*, kie-api-2026.md §1.2 item 3).

    Limiters are made on first use by `make(key)`; ones idle longer than `idle_s` are dropped once more than
    `max_keys` exist, so finished tasks do not pile up for the life of the process."""

    def __init__(self, make: Callable[[str], Limiter], *, idle_s: float = 60.0, max_keys: int = 1024,
                 clock: Clock = time.monotonic) -> None:
        self._make = make
        self._idle_s = idle_s
        self._max_keys = max_keys
        self._clock = clock
        self._limiters: dict[str, tuple[Limiter, float]] = {}

    def __len__(self) -> int:
        return len(self._limiters)

    def for_key(self, key: str) -> Limiter:
        now = self._clock()
        found = self._limiters.get(key)
        limiter = found[0] if found is not None else self._make(key)
        self._limiters[key] = (limiter, now)
        if len(self._limiters) > self._max_keys:
            horizon = now - self._idle_s
            self._limiters = {k: v for k, v in self._limiters.items() if v[1] > horizon or k == key}
        return limiter
