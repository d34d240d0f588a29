"""Client-side KIE rate limiters on a fake clock (no real waiting)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from bot.kie.ratelimit import PerKeyLimiter, SlidingWindowLimiter, TokenBucketLimiter, Unlimited


class FakeClock:
    """Monotonic time that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


def max_in_any_window(times: list[float], window_s: float) -> int:
    """Largest number of grants inside any half-open window [t, t + window_s)."""
    return max(sum(1 for u in times if t <= u < t + window_s) for t in times)


async def test_sliding_window_never_exceeds_limit_and_keeps_pace() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(20, 10.0, clock=clock, sleep=clock.sleep)
    granted: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        granted.append(clock())

    await asyncio.gather(*(one() for _ in range(100)))
    assert len(granted) == 100
    assert max_in_any_window(granted, 10.0) == 20
    # 100 permits at 20 per 10 s: the last batch starts at 40 s, not later.
    assert granted[-1] == pytest.approx(40.0)


async def test_sliding_window_is_fifo() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, 1.0, clock=clock, sleep=clock.sleep)
    order: list[int] = []

    async def one(number: int) -> None:
        await limiter.acquire()
        order.append(number)

    tasks = []
    for number in range(10):
        tasks.append(asyncio.create_task(one(number)))
        await asyncio.sleep(0)  # arrival order = creation order
    await asyncio.gather(*tasks)
    assert order == list(range(10))


async def test_safety_margin_widens_the_window() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, 1.0, safety_margin_s=0.1, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        await limiter.acquire()
    assert clock() == pytest.approx(1.1)


async def test_cancelled_waiter_does_not_block_the_line() -> None:
    clock = FakeClock()
    gate = asyncio.Event()

    async def slow_sleep(seconds: float) -> None:
        await gate.wait()
        clock.now += seconds

    limiter = SlidingWindowLimiter(1, 1.0, clock=clock, sleep=slow_sleep)
    await limiter.acquire()
    waiting = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    gate.set()
    await asyncio.wait_for(limiter.acquire(), 1.0)
    assert limiter.granted == 2


def test_per_second_handles_fractional_rates() -> None:
    limiter = SlidingWindowLimiter.per_second(2.5)
    assert (limiter.limit, limiter.window_s) == (3, pytest.approx(1.2))
    ten = SlidingWindowLimiter.per_second(10)
    assert (ten.limit, ten.window_s) == (10, pytest.approx(1.0))


async def test_token_bucket_spaces_calls_evenly() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(10.0, clock=clock, sleep=clock.sleep)
    granted: list[float] = []
    for _ in range(11):
        await limiter.acquire()
        granted.append(clock())
    gaps = [b - a for a, b in itertools.pairwise(granted)]
    assert all(gap == pytest.approx(0.1) for gap in gaps)
    assert max_in_any_window(granted, 0.999) == 10


async def test_token_bucket_allows_configured_burst() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(1.0, capacity=5, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        await limiter.acquire()
    assert clock() == 0.0
    await limiter.acquire()
    assert clock() == pytest.approx(1.0)


async def test_unlimited_never_waits() -> None:
    limiter = Unlimited()
    async with limiter:
        pass
    await limiter.acquire()


def test_invalid_limits_are_rejected() -> None:
    with pytest.raises(ValueError):
        SlidingWindowLimiter(0, 1.0)
    with pytest.raises(ValueError):
        TokenBucketLimiter(0)


async def test_hold_counts_the_window_from_the_answer() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, 1.0, clock=clock, sleep=clock.sleep)
    answered = asyncio.Event()
    granted: list[float] = []

    async def slow_call() -> None:
        async with limiter.hold():
            granted.append(clock())
            await answered.wait()

    # Two calls are granted at t=0 and answered at t=0.5; a third may start only at 0.5 + 1 s.
    calls = [asyncio.create_task(slow_call()) for _ in range(2)]
    await asyncio.sleep(0)
    clock.now = 0.5
    answered.set()
    await asyncio.gather(*calls)
    await limiter.acquire()
    assert granted == [0.0, 0.0]
    assert clock() == pytest.approx(1.5)


async def test_hold_waits_for_an_in_flight_release() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 1.0, clock=clock, sleep=clock.sleep)
    answered = asyncio.Event()

    async def in_flight() -> None:
        async with limiter.hold():
            await answered.wait()

    holder = asyncio.create_task(in_flight())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.01)
    assert not waiter.done()  # nothing has finished: no expiry to sleep towards
    clock.now = 5.0
    answered.set()
    await asyncio.wait_for(waiter, 1.0)
    await holder
    assert clock() == pytest.approx(6.0)


async def test_per_key_limiter_gives_each_key_its_own_budget_and_forgets_idle_keys() -> None:
    clock = FakeClockForKeys()
    limiters = PerKeyLimiter(lambda _key: SlidingWindowLimiter(10, 1.0), idle_s=60.0, max_keys=2, clock=clock)
    first = limiters.for_key("task-a")
    assert limiters.for_key("task-a") is first
    assert limiters.for_key("task-b") is not first
    clock.now = 100.0
    limiters.for_key("task-c")  # a third key: the idle ones are dropped
    assert len(limiters) == 1
    assert limiters.for_key("task-a") is not first


class FakeClockForKeys:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_hold_counts_from_the_later_of_sent_plus_margin_and_the_answer() -> None:
    """The arrival at KIE lies between sending and the answer, so one window after the later of
    "sent + margin" and "answered" is safe; the margin is not paid again on top of the round trip."""
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 1.0, safety_margin_s=0.1, clock=clock, sleep=clock.sleep)
    async with limiter.hold():
        clock.now = 0.02  # answered quicker than the margin: counted from sent + margin
    async with limiter.hold():
        granted_second = clock()
        clock.now += 0.5  # answered after the margin: counted from the answer
    await limiter.acquire()
    assert granted_second == pytest.approx(1.1)
    assert clock() == pytest.approx(1.1 + 0.5 + 1.0)


async def test_waiters_are_told_their_place_as_the_line_moves() -> None:
    """Issue 13, item 7: an order waiting for a create slot learns its place (1: next), and each
    move up; one served at once is told nothing; a waiter that gives up leaves the line."""
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 1.0, clock=clock, sleep=clock.sleep)
    told: dict[int, list[int]] = {n: [] for n in range(4)}
    answered = asyncio.Event()  # the first request stays in flight until then

    async def one(number: int) -> None:
        async with limiter.hold(told[number].append):
            if number == 0:
                await answered.wait()

    tasks = [asyncio.create_task(one(number)) for number in range(4)]
    for _ in range(3):
        await asyncio.sleep(0)
    assert [told[n] for n in range(4)] == [[], [1], [2], [3]]
    tasks[2].cancel()  # gives up while waiting: the one behind it moves up
    await asyncio.sleep(0)
    assert told[3] == [3, 2]
    answered.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert [told[n] for n in range(4)] == [[], [1], [2], [3, 2, 1]]
    assert len(limiter.line) == 0


async def test_token_bucket_tells_waiters_their_place_too() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(1.0, clock=clock, sleep=clock.sleep)
    told: dict[int, list[int]] = {n: [] for n in range(3)}
    await asyncio.gather(*(limiter.acquire(told[n].append) for n in range(3)))
    assert [told[n] for n in range(3)] == [[], [1], [2, 1]]
    assert len(limiter.line) == 0
