"""The Redis-backed send budget against a real Redis server (TEST_REDIS_URL, e.g. redis://127.0.0.1:6379/15).

Two budgets on one Redis stand for two instances of the bot. Redis keeps the time (TIME), so the
checks use slow rates: a refusal's wait is bounded, never measured against a sleep.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator

import pytest

from bot.shaping.budget import BudgetLimits
from bot.shaping.redis_budget import RedisSendBudget
from bot.shaping.scheduler import Priority, SendScheduler

REDIS_URL = os.environ.get("TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL is not set: no Redis to test on")

redis_asyncio = pytest.importorskip("redis.asyncio")


@pytest.fixture
async def redis() -> AsyncIterator[object]:
    assert REDIS_URL is not None
    client = redis_asyncio.Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
def bot_id() -> int:
    return secrets.randbelow(10**9)  # keys of their own for every test


@needs_redis
async def test_two_instances_share_the_bots_budget(redis: object, bot_id: int) -> None:
    limits = BudgetLimits(per_s=1.0, per_chat_per_s=100.0)  # the bot's bucket: 2 tokens, 1 a second
    one, two = RedisSendBudget(redis, bot_id, limits), RedisSendBudget(redis, bot_id, limits)  # type: ignore[arg-type]
    assert await one.take(1, keep=0) is None
    assert await two.take(2, keep=0) is None
    refusal = await one.take(3, keep=0)
    assert refusal is not None and 0 < refusal.bot_s <= 1.0 and refusal.chat_s == 0
    refusal = await two.take(4, keep=0)
    assert refusal is not None and 0 < refusal.bot_s <= 1.0
    assert one.fallbacks == two.fallbacks == 0


@needs_redis
async def test_a_chat_budget_is_shared_and_progress_keeps_headroom(redis: object, bot_id: int) -> None:
    limits = BudgetLimits(per_s=1000.0, per_chat_per_s=0.01)  # a chat: 2 tokens, one per 100 s
    one, two = RedisSendBudget(redis, bot_id, limits), RedisSendBudget(redis, bot_id, limits)  # type: ignore[arg-type]
    assert await one.take(7, keep=1) is None  # 2 -> 1
    refusal = await two.take(7, keep=1)  # a progress edit would leave none
    assert refusal is not None and 99.0 < refusal.chat_s <= 100.0 and refusal.bot_s == 0
    assert await two.take(7, keep=0) is None  # a delivery takes the token kept for it
    refusal = await one.take(7, keep=0)
    assert refusal is not None and 99.0 < refusal.chat_s <= 100.0
    assert await one.take(8, keep=0) is None  # another chat is not affected


@needs_redis
async def test_a_429_holds_the_chat_for_every_instance(redis: object, bot_id: int) -> None:
    limits = BudgetLimits(per_s=1000.0, per_chat_per_s=1000.0)
    one, two = RedisSendBudget(redis, bot_id, limits), RedisSendBudget(redis, bot_id, limits)  # type: ignore[arg-type]
    await one.penalize(9, 30.0)
    refusal = await two.take(9, keep=0)
    assert refusal is not None and 29.0 < refusal.chat_s <= 30.0
    assert await two.take(10, keep=0) is None
    await two.penalize(None, 5.0)  # no chat: the whole bot
    refusal = await one.take(11, keep=0)
    assert refusal is not None and 4.0 < refusal.bot_s <= 5.0


@needs_redis
async def test_idle_chat_buckets_expire(redis: object, bot_id: int) -> None:
    budget = RedisSendBudget(redis, bot_id, BudgetLimits(per_s=1000.0, per_chat_per_s=1.0))  # type: ignore[arg-type]
    assert await budget.take(12, keep=0) is None
    ttl_ms = await redis.pttl(f"tgshape:{{{bot_id}}}:chat:12")  # type: ignore[attr-defined]
    assert 0 < ttl_ms <= 3000  # full again after 2 s (+1 s slack): then it is gone


async def test_without_redis_the_instance_paces_itself() -> None:
    """An unreachable Redis: sends are paced by this process's own buckets, not stopped."""
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    # No retries: the client's default backoff would only make the test slow.
    client = redis_asyncio.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    try:
        budget = RedisSendBudget(client, 1, BudgetLimits(per_s=1000.0, per_chat_per_s=0.001))
        assert await budget.take(1, keep=0) is None
        assert await budget.take(1, keep=0) is None
        refusal = await budget.take(1, keep=0)
        assert refusal is not None and refusal.chat_s > 0
        await budget.penalize(2, 1.0)
        assert budget.fallbacks == 4
    finally:
        await client.aclose()


@needs_redis
async def test_two_schedulers_on_one_redis_keep_one_pace(redis: object, bot_id: int) -> None:
    """Two instances' queues, 20 sends each to distinct chats, on a budget of 20 a second: together
    they never go faster (Redis's clock decides; a slow machine only spreads them more)."""
    limits = BudgetLimits(per_s=20.0, per_chat_per_s=100.0)
    schedulers = [SendScheduler(RedisSendBudget(redis, bot_id, limits)) for _ in range(2)]  # type: ignore[arg-type]
    granted: list[float] = []

    async def one(scheduler: SendScheduler, chat: int) -> None:
        async with scheduler.turn(Priority.REPLY, chat) as go:
            assert go
            granted.append(time.monotonic())

    sends = [one(schedulers[n % 2], 1000 + n) for n in range(40)]
    await asyncio.wait_for(asyncio.gather(*sends), 30)
    for scheduler in schedulers:
        await scheduler.close()
    assert len(granted) == 40
    busiest = max(sum(1 for u in granted if t <= u < t + 1.0) for t in granted)
    assert busiest <= 2 + 20 + 2  # the burst, one second's rate, and the round trips' jitter
    assert granted[-1] - granted[0] >= (40 - 2) / 20 - 0.2
