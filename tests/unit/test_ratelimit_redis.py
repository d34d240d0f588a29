"""KIE's limits shared through Redis (TEST_REDIS_URL; skipped without): two limiter instances on
one bucket, as two bot processes, never admit more than the limit together in any window."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from bot.kie.client import KieClient
from bot.kie.ratelimit_redis import RedisLimiters, RedisWindowLimiter
from tests.e2e.harness import free_port

# Grant times are read by the test's clock, after the answer; a later answer can make two grants
# that Redis made a full window apart look closer. The check allows that much, and no more.
TOLERANCE = 0.1


@pytest.fixture
async def two_clients(redis_url: str) -> AsyncIterator[tuple[Redis, Redis]]:
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        yield first, second
    finally:
        await first.aclose()
        await second.aclose()


def most_in_any_window(grants: list[float], window_s: float) -> int:
    grants = sorted(grants)
    return max(sum(1 for t in grants[i:] if t < start + window_s) for i, start in enumerate(grants))


async def test_two_instances_never_exceed_the_limit_together(
    two_clients: tuple[Redis, Redis], redis_prefix: str
) -> None:
    limit, window_s, windows = 4, 1.0, 3
    limiters = [
        RedisWindowLimiter(client, f"{redis_prefix}:create", limit, window_s) for client in two_clients
    ]
    grants: list[float] = []
    enough = asyncio.Event()

    async def worker(limiter: RedisWindowLimiter) -> None:
        while True:
            await limiter.acquire()
            grants.append(time.monotonic())
            if len(grants) >= limit * windows:
                enough.set()

    # Eight callers per instance: each instance alone would take the whole budget.
    started = time.monotonic()
    workers = [asyncio.create_task(worker(limiters[n % 2])) for n in range(16)]
    try:
        await asyncio.wait_for(enough.wait(), 30)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    elapsed = time.monotonic() - started
    assert most_in_any_window(grants, window_s * (1 - TOLERANCE)) <= limit, sorted(grants)
    # 12 grants at 4 per window: the third window's grants come two windows after the first ones,
    # and not much later (the limiters are not merely slow).
    assert (windows - 1) * window_s * (1 - TOLERANCE) <= elapsed < (windows - 1) * window_s + 3.0, elapsed
    assert all(limiter.granted > 0 for limiter in limiters)  # both instances got permits


async def test_a_held_permit_counts_until_its_answer_and_a_dead_holders_comes_back(
    two_clients: tuple[Redis, Redis], redis_prefix: str
) -> None:
    first, second = two_clients
    window_s = 0.3
    holder = RedisWindowLimiter(first, f"{redis_prefix}:status", 2, window_s)
    other = RedisWindowLimiter(second, f"{redis_prefix}:status", 2, window_s)
    released_at: list[float] = []

    async def call(answer: asyncio.Event) -> None:
        async with holder.hold():
            await answer.wait()
        released_at.append(time.monotonic())

    answers = [asyncio.Event(), asyncio.Event()]
    calls = [asyncio.create_task(call(answer)) for answer in answers]
    while holder.granted < 2:
        await asyncio.sleep(0.01)  # until both permits are out
    waiting = asyncio.create_task(other.acquire())
    with pytest.raises(TimeoutError):  # both permits in flight: nothing for the other instance
        await asyncio.wait_for(asyncio.shield(waiting), window_s * 2)
    answers[0].set()
    await waiting
    granted_at = time.monotonic()
    await calls[0]
    # The slot ended when the answer came back and was reusable one window later.
    assert granted_at - released_at[0] >= window_s * (1 - TOLERANCE)
    answers[1].set()
    await calls[1]

    # A holder that never reports back (its process died): the permit returns after the lease.
    dying = RedisWindowLimiter(first, f"{redis_prefix}:dying", 1, window_s, in_flight_lease_s=0.3)
    survivor = RedisWindowLimiter(second, f"{redis_prefix}:dying", 1, window_s)
    abandoned = dying.hold()
    await abandoned.__aenter__()
    started = time.monotonic()
    await asyncio.wait_for(survivor.acquire(), 5)
    assert time.monotonic() - started >= (0.3 + window_s) * (1 - TOLERANCE)
    with contextlib.suppress(Exception):
        await abandoned.__aexit__(None, None, None)


async def test_without_redis_the_limit_holds_for_the_instance_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    try:
        limiter = RedisWindowLimiter(client, "nowhere:create", 2, 0.3)
        with caplog.at_level(logging.WARNING, logger="bot.kie.ratelimit_redis"):
            started = time.monotonic()
            for _ in range(3):
                async with limiter.hold():
                    pass
        assert time.monotonic() - started >= 0.3 * (1 - TOLERANCE), "the fallback limited the third call"
        warnings = [r for r in caplog.records if "limits itself alone" in r.getMessage()]
        assert len(warnings) == 1, "logged once, not per call"
    finally:
        await client.aclose()


async def test_the_kie_client_shares_its_limits_per_account(redis_client: Redis, redis_prefix: str) -> None:
    limiters = RedisLimiters(redis_client, f"{redis_prefix}:kie")
    clients = [
        KieClient(key, api_base="http://127.0.0.1:9", limiters=limiters, status_limit_scope="task")
        for key in ("key-a", "key-a", "key-b")
    ]
    try:
        keys = [
            (c.create_limiter.key, c.status_limiter.key, c.discovery_limiter.key)  # type: ignore[attr-defined]
            for c in clients
        ]
        assert keys[0] == keys[1], "two instances on one KIE account share every bucket"
        assert not set(keys[0]) & set(keys[2]), "another account has buckets of its own"
        assert all(k.startswith(f"{redis_prefix}:kie:") for k in keys[0])
        assert isinstance(clients[0].create_limiter, RedisWindowLimiter)
        assert (clients[0].create_limiter.limit, clients[0].create_limiter.window_s) == (20, 10.0)
        task = clients[0]._task_status_limiters.for_key("task-1")
        assert isinstance(task, RedisWindowLimiter) and task.key.endswith(":status:task:task-1")
    finally:
        for c in clients:
            await c.aclose()


async def test_a_cancelled_waiter_always_stops(redis_client: Redis, redis_prefix: str) -> None:
    # redis-py sometimes swallows a cancel that lands mid-command; the limiter must not run on.
    limiter = RedisWindowLimiter(redis_client, f"{redis_prefix}:full", 1, 30.0)
    await limiter.acquire()  # the bucket is empty for 30 s
    for attempt in range(40):
        waiter = asyncio.create_task(limiter.acquire())
        for _ in range(attempt % 4):
            await asyncio.sleep(0)  # cancel at different points of the script call
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(waiter, 5)
