"""What instances share through Redis, against a real server (TEST_REDIS_URL; skipped without):
the per-user lock, the claimed update ids, the FSM storage. Each "instance" is a client of its own.
Without a server: a bad REDIS_URL or an unreachable Redis is one clear line."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiogram.fsm.storage.base import StorageKey
from redis.asyncio import Redis
from redis.asyncio.lock import Lock

from bot.app import create_fsm_storage
from bot.app import redis_prefix as bot_key_prefix
from bot.config import SettingsError, load_settings
from bot.coordination.connection import RedisUnavailable, connect_redis
from bot.coordination.locks import RedisUserLocks, UserLockTimeout
from bot.coordination.updates import LocalUpdateClaims, RedisUpdateClaims
from tests.e2e.harness import free_port

TOKEN = "4242:TEST-redis_token"


@pytest.fixture
async def instances(redis_url: str) -> AsyncIterator[tuple[Redis, Redis]]:
    """Two clients, as two bot processes would have."""
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        yield first, second
    finally:
        await first.aclose()
        await second.aclose()


async def test_the_user_lock_lets_one_instance_in_at_a_time(
    instances: tuple[Redis, Redis], redis_prefix: str
) -> None:
    locks = [RedisUserLocks(client, redis_prefix) for client in instances]
    other = RedisUserLocks(instances[0], redis_prefix)
    inside: list[int] = []
    most_inside = 0
    counter = f"{redis_prefix}:counter"

    async def update(n: int) -> None:
        nonlocal most_inside
        async with locks[n % 2].hold(7):
            inside.append(n)
            most_inside = max(most_inside, len(inside))
            # A read-modify-write with a round trip in the middle: lost updates show without the lock.
            value = int(await instances[n % 2].get(counter) or 0)
            await instances[n % 2].set(counter, value + 1)
            inside.remove(n)

    async def other_user() -> None:
        async with other.hold(8):  # another user's lock is not this one
            assert inside, "user 8 got in while user 7 was inside"

    await asyncio.gather(*(update(n) for n in range(20)))
    assert most_inside == 1
    assert int(await instances[0].get(counter) or 0) == 20

    async with locks[0].hold(7):
        inside.append(0)
        await other_user()
        inside.clear()


async def test_a_dead_holders_lock_expires_and_a_live_holders_lock_is_renewed(
    instances: tuple[Redis, Redis], redis_prefix: str
) -> None:
    first, second = instances
    waiter = RedisUserLocks(second, redis_prefix, lease_s=0.3, wait_s=5.0)
    # A holder killed mid-update: its lock is never released nor renewed.
    dead = Lock(first, waiter.key(5), timeout=0.3, thread_local=False)
    assert await dead.acquire(blocking=False)
    started = time.monotonic()
    async with waiter.hold(5):
        waited = time.monotonic() - started
    assert 0.15 < waited < 3.0, waited

    # A live holder renews its lease: a waiter that gives up after 3 leases does not get in.
    holder = RedisUserLocks(first, redis_prefix, lease_s=0.3)
    impatient = RedisUserLocks(second, redis_prefix, lease_s=0.3, wait_s=0.9)
    async with holder.hold(6):
        with pytest.raises(UserLockTimeout):
            async with impatient.hold(6):
                pytest.fail("got the lock of a live holder")
    async with impatient.hold(6):
        pass
    assert await second.exists(waiter.key(6)) == 0, "released"


async def test_an_update_id_is_claimed_by_exactly_one_instance(
    instances: tuple[Redis, Redis], redis_prefix: str
) -> None:
    claims = [RedisUpdateClaims(client, redis_prefix) for client in instances]
    results = await asyncio.gather(*(claims[n % 2].claim(1001) for n in range(20)))
    assert sorted(results) == [False] * 19 + [True]
    await claims[0].done(1001)
    assert not await claims[1].claim(1001)
    ttl_ms = await instances[0].pttl(claims[0].key(1001))
    assert 0 < ttl_ms <= claims[0].keep_ms
    assert await claims[1].claim(1002)


async def test_an_interrupted_claim_expires_so_a_redelivery_is_handled(
    instances: tuple[Redis, Redis], redis_prefix: str
) -> None:
    dying = RedisUpdateClaims(instances[0], redis_prefix, processing_s=0.2)
    survivor = RedisUpdateClaims(instances[1], redis_prefix)
    assert await dying.claim(2001)  # and its instance dies before `done`
    assert not await survivor.claim(2001)
    deadline = time.monotonic() + 5
    while not await survivor.claim(2001):
        assert time.monotonic() < deadline, "the claim of a dead instance never expired"
        await asyncio.sleep(0.02)  # polling the condition


async def test_local_claims_remember_the_last_ids() -> None:
    claims = LocalUpdateClaims(kept=3)
    assert [await claims.claim(n) for n in (1, 2, 3, 1)] == [True, True, True, False]
    assert await claims.claim(4)  # 2 is now the oldest and is forgotten
    assert await claims.claim(2)
    assert not await claims.claim(4)


async def test_the_fsm_storage_is_shared_and_keyed_by_the_bot_id(
    instances: tuple[Redis, Redis], redis_prefix: str, redis_url: str, tmp_path: object
) -> None:
    settings = load_settings(
        _env_file=None, bot_token=TOKEN, kie_sandbox=True, redis_url=redis_url, redis_key_prefix=redis_prefix
    )
    first = await create_fsm_storage(settings, None, instances[0])  # type: ignore[arg-type]
    second = await create_fsm_storage(settings, None, instances[1])  # type: ignore[arg-type]
    key = StorageKey(bot_id=4242, chat_id=9, user_id=9)
    await first.set_state(key, "WizardStates:active")
    await first.set_data(key, {"draft": {"id": "d1"}})
    assert await second.get_state(key) == "WizardStates:active"
    assert await second.get_data(key) == {"draft": {"id": "d1"}}
    keys = sorted(k.decode() for k in await instances[0].keys(f"{redis_prefix}:*"))
    assert bot_key_prefix(settings) == f"{redis_prefix}:4242"
    assert keys == [f"{redis_prefix}:4242:fsm:9:9:default:data", f"{redis_prefix}:4242:fsm:9:9:default:state"]
    assert 0 < await instances[0].ttl(keys[0]) <= 7 * 24 * 3600
    await first.close()  # the application's client stays open
    assert await instances[0].ping()


def test_redis_url_must_be_a_redis_url() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(_env_file=None, bot_token=TOKEN, kie_sandbox=True, redis_url="http://127.0.0.1:6379")
    assert str(error.value).startswith("REDIS_URL is invalid") and "\n" not in str(error.value)
    settings = load_settings(_env_file=None, bot_token=TOKEN, kie_sandbox=True, redis_url="")
    assert settings.redis_url is None
    secret = load_settings(
        _env_file=None, bot_token=TOKEN, kie_sandbox=True, redis_url="redis://:s3cret-pw@10.0.0.1:6379/0"
    )
    assert "s3cret-pw" in secret.secrets  # redacted from logs
    assert "s3cret-pw" not in repr(secret)


async def test_an_unreachable_redis_is_one_clear_line() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(RedisUnavailable) as error:
        await connect_redis(f"redis://:pw-secret@127.0.0.1:{port}/0")
    message = str(error.value)
    assert f"127.0.0.1:{port}" in message and "REDIS_URL" in message and "\n" not in message
    assert "pw-secret" not in message
    with pytest.raises(RedisUnavailable) as bad:
        await connect_redis("redis://127.0.0.1:notaport/0")
    assert str(bad.value).startswith("REDIS_URL is invalid")
