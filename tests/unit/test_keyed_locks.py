"""KeyedLocks: one asyncio.Lock per key while it is in use, none kept after."""

from __future__ import annotations

import asyncio

from bot.coordination.locks import KeyedLocks


async def test_one_lock_per_key_while_held_or_awaited_and_none_kept_after() -> None:
    locks = KeyedLocks()
    order: list[str] = []

    async def hold(key: int, name: str, release: asyncio.Event | None = None) -> None:
        async with locks.lock(key):
            order.append(f"{name} in")
            if release is not None:
                await release.wait()
            order.append(f"{name} out")

    release = asyncio.Event()
    first = asyncio.create_task(hold(1, "first", release))
    await asyncio.sleep(0)  # first takes the lock
    second = asyncio.create_task(hold(1, "second"))
    other = asyncio.create_task(hold(2, "other"))
    await other  # another key is not held back
    await asyncio.sleep(0)
    assert order == ["first in", "other in", "other out"]
    assert len(locks) == 1, "key 2's lock is gone once nobody holds it; key 1's is held and awaited"
    release.set()
    await asyncio.gather(first, second)
    assert order[3:] == ["first out", "second in", "second out"]
    assert len(locks) == 0
