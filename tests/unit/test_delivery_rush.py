"""DeliveryRush: status edits wait for the videos on their way, each woken only when it may go."""

from __future__ import annotations

import asyncio
import contextlib

from bot.services.delivery import DeliveryRush


async def test_nothing_waits_when_no_other_delivery_is_on_its_way() -> None:
    rush = DeliveryRush(max_wait_s=60)
    await asyncio.wait_for(rush.calm(), 1)
    with rush.delivering():
        await asyncio.wait_for(rush.calm(own=1), 1)  # only the caller's own delivery


async def test_each_waiter_goes_when_its_own_threshold_is_reached() -> None:
    rush = DeliveryRush(max_wait_s=60)
    with contextlib.ExitStack() as deliveries:
        for _ in range(3):
            deliveries.enter_context(rush.delivering())
        done_edit = asyncio.ensure_future(rush.calm())
        sending_notice = asyncio.ensure_future(rush.calm(own=1))
        with rush.delivering():
            pass  # a fourth delivery came and went: 3 still on their way
        await asyncio.sleep(0)
        assert not done_edit.done() and not sending_notice.done()
    await asyncio.wait_for(asyncio.gather(done_edit, sending_notice), 1)

    rush2 = DeliveryRush(max_wait_s=60)
    first, second = rush2.delivering(), rush2.delivering()
    first.__enter__()
    second.__enter__()
    done_edit = asyncio.ensure_future(rush2.calm())
    sending_notice = asyncio.ensure_future(rush2.calm(own=1))
    await asyncio.sleep(0)
    second.__exit__(None, None, None)
    await asyncio.wait_for(sending_notice, 1)  # one left on its way: its own
    assert not done_edit.done()
    first.__exit__(None, None, None)
    await asyncio.wait_for(done_edit, 1)


async def test_a_waiter_gives_up_after_max_wait_and_a_cancelled_one_leaves_the_others_waiting() -> None:
    rush = DeliveryRush(max_wait_s=0.05)
    with rush.delivering():
        await asyncio.wait_for(rush.calm(), 5)  # returned by its own max_wait, the delivery still on
        rush.max_wait_s = 60
        cancelled = asyncio.ensure_future(rush.calm())
        waiting = asyncio.ensure_future(rush.calm())
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.sleep(0)
        assert not waiting.done()
    await asyncio.wait_for(waiting, 1)
    assert cancelled.cancelled()
