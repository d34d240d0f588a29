"""The outgoing send queue and its budget on a fake clock: nothing here waits for real time.

Each send is a task that takes its turn and records (name, fake time); `dispatch()` is called by the
test after moving the clock (the scheduler runs without its background task), and `until()` lets the
event loop run until a condition holds (a bounded number of loop turns, no time passes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable

import pytest

from bot.shaping.budget import BudgetLimits, LocalSendBudget, SendWindow
from bot.shaping.scheduler import Priority, SendScheduler

P = Priority


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def until(condition: Callable[[], object], what: str = "condition") -> None:
    """Let the loop run until `condition` holds (no time passes; bounded)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never reached: {what}")


class Bench:
    """A scheduler on a fake clock plus the sends made through it."""

    def __init__(
        self, per_s: float = 1000.0, per_chat_per_s: float = 1000.0, window: int | None = None
    ) -> None:
        self.clock = FakeClock()
        self.budget = LocalSendBudget(BudgetLimits(per_s, per_chat_per_s), clock=self.clock)
        self.window = SendWindow(window, clock=self.clock) if window is not None else None
        self.scheduler = SendScheduler(self.budget, window=self.window, clock=self.clock, background=False)
        self.sent: list[tuple[str, float]] = []
        self.superseded: list[str] = []
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.holds: dict[str, asyncio.Event] = {}

    def send(
        self,
        name: str,
        priority: Priority,
        chat: int | None,
        key: Hashable | None = None,
        *,
        hold: bool = False,
    ) -> None:
        """Start a send; `hold`: it stays "on its way" (its block open) until `holds[name]` is set."""
        release = asyncio.Event()
        if not hold:
            release.set()
        self.holds[name] = release

        async def one() -> None:
            async with self.scheduler.turn(priority, chat, key) as go:
                if not go:
                    self.superseded.append(name)
                    return
                self.sent.append((name, self.clock.now))
                await release.wait()

        self.tasks[name] = asyncio.create_task(one())

    def _accounted(self) -> int:
        cancelled = sum(1 for t in self.tasks.values() if t.cancelled())
        return self.scheduler.pending + len(self.sent) + len(self.superseded) + cancelled

    async def started(self) -> None:
        """Every send started so far is queued, gone, superseded or cancelled."""
        await until(lambda: self._accounted() == len(self.tasks), "every send accounted for")

    async def at(self, seconds: float) -> list[str]:
        """Move the clock to `seconds`, dispatch, and return what went out at that moment."""
        self.clock.now = seconds
        before = len(self.sent)
        await self.scheduler.dispatch()
        await self.started()  # granted sends leave the queue at once and record on their next turn
        return [name for name, _ in self.sent[before:]]

    def names(self) -> list[str]:
        return [name for name, _ in self.sent]

    def drain(self) -> None:
        """Use up the bot's bucket (so what follows has to queue)."""
        while self.budget.take_now(None, keep=0) is None:
            pass


async def test_priority_order_under_the_bot_budget() -> None:
    bench = Bench(per_s=1.0)
    bench.drain()
    bench.send("progress", P.PROGRESS, 1)
    bench.send("reply", P.REPLY, 2)
    bench.send("delivery", P.DELIVERY, 3)
    await bench.started()
    assert await bench.at(0.5) == []
    assert await bench.at(1.0) == ["delivery"]
    assert await bench.at(2.0) == ["reply"]
    # A progress edit leaves a token for what may come: it needs two in the bucket.
    assert await bench.at(3.0) == []
    assert await bench.at(4.0) == ["progress"]


async def test_a_delivery_arriving_during_a_flood_of_progress_edits_goes_at_once() -> None:
    bench = Bench(per_s=10.0)
    for n in range(50):
        bench.send(f"edit{n}", P.PROGRESS, 100 + n)
    await bench.started()
    t = 0.0
    while len(bench.sent) < 20:
        t = round(t + 0.05, 2)
        await bench.at(t)
    assert t <= 2.0  # progress edits alone still get the full rate
    next_edit = f"edit{len(bench.sent)}"
    bench.send("video", P.DELIVERY, 7)
    bench.send("answer", P.REPLY, 8)
    await bench.started()
    # The video at once: the edits kept a token of headroom. The answer takes the next token,
    # before any of the edits still queued.
    assert await bench.at(t) == ["video"]
    assert await bench.at(t + 0.1) == ["answer"]
    assert await bench.at(t + 0.2) == []
    assert await bench.at(t + 0.3) == [next_edit]


async def test_per_chat_spacing_with_a_small_burst_and_other_chats_not_held_back() -> None:
    bench = Bench(per_chat_per_s=1.0)
    for n in range(5):
        bench.send(f"a{n}", P.REPLY, 1)
    await bench.started()
    assert bench.names() == ["a0", "a1"]  # the burst of two went without queueing
    bench.send("b0", P.REPLY, 2)
    await bench.started()
    assert await bench.at(0.0) == ["b0"]  # another chat is not held back by chat 1's queue
    assert await bench.at(0.9) == []
    assert await bench.at(1.0) == ["a2"]
    assert await bench.at(1.5) == []
    assert await bench.at(2.0) == ["a3"]
    assert await bench.at(3.0) == ["a4"]


async def test_groups_are_held_to_twenty_a_minute() -> None:
    bench = Bench(per_chat_per_s=1.0)
    for n in range(25):
        bench.send(f"g{n}", P.REPLY, -1001)
    await bench.started()
    t = 0.0
    while t < 60.0:
        t = round(t + 0.5, 1)
        await bench.at(t)
    in_first_minute = [name for name, at in bench.sent if at < 60.0]
    assert len(in_first_minute) <= 20
    assert len(in_first_minute) >= 18


async def test_global_rate_is_kept_in_every_window() -> None:
    bench = Bench(per_s=10.0)
    for n in range(100):
        bench.send(f"m{n}", P.REPLY, n)
    await bench.started()
    t = 0.0
    while len(bench.sent) < 100:
        t = round(t + 0.01, 2)
        await bench.at(t)
    times = [at for _, at in bench.sent]
    for start in times:
        in_window = sum(1 for u in times if start <= u < start + 1.0)
        assert in_window <= 2 + 10  # the burst plus one second's rate
    # Arrival order kept, and no slower than the rate: 98 after the burst of 2 take 9.8 s.
    assert bench.names() == [f"m{n}" for n in range(100)]
    assert times[-1] == pytest.approx(9.8, abs=0.02)


async def test_a_newer_edit_replaces_a_queued_one_in_its_place_in_line() -> None:
    bench = Bench(per_s=1.0)
    bench.drain()
    message = (5, 42)
    bench.send("tick1", P.PROGRESS, 5, message)
    bench.send("other", P.PROGRESS, 6, (6, 1))
    await bench.started()
    bench.send("tick2", P.PROGRESS, 5, message)
    await bench.started()
    bench.send("done", P.PROGRESS, 5, message)
    await bench.started()
    assert bench.superseded == ["tick1", "tick2"]
    assert bench.scheduler.pending == 2
    await bench.at(2.0)
    await bench.at(4.0)
    assert bench.names() == ["done", "other"]  # "done" went where "tick1" stood
    stats = bench.scheduler.stats[P.PROGRESS]
    assert (stats.sent, stats.superseded) == (2, 2)


async def test_a_newer_edit_of_another_priority_replaces_the_queued_one_too() -> None:
    bench = Bench(per_s=1.0)
    bench.drain()
    bench.send("tick", P.PROGRESS, 5, (5, 42))
    await bench.started()
    bench.send("failed", P.REPLY, 5, (5, 42))
    await bench.started()
    assert bench.superseded == ["tick"]
    assert await bench.at(1.0) == ["failed"]


async def test_an_edit_never_overtakes_an_older_one_on_its_way() -> None:
    bench = Bench()
    message = (5, 42)
    bench.send("first", P.PROGRESS, 5, message, hold=True)
    await bench.started()
    assert bench.names() == ["first"]
    bench.send("second", P.PROGRESS, 5, message)
    bench.send("third", P.PROGRESS, 5, message)
    await bench.started()
    assert await bench.at(1.0) == []  # budget to spare, but "first" is not answered yet
    assert bench.superseded == ["second"]
    bench.holds["first"].set()
    await until(lambda: bench.tasks["first"].done())
    assert await bench.at(1.0) == ["third"]


async def test_a_429_holds_the_chat_for_retry_after_and_no_other() -> None:
    bench = Bench()
    await bench.scheduler.penalize(1, 3.0)
    bench.send("a", P.DELIVERY, 1)
    bench.send("b", P.REPLY, 2)
    await bench.started()
    assert await bench.at(0.0) == ["b"]
    assert await bench.at(2.9) == []
    assert await bench.at(3.0) == ["a"]


async def test_a_cancelled_send_leaves_the_queue_without_spending_budget() -> None:
    bench = Bench(per_s=1.0)
    bench.drain()
    bench.send("gone", P.DELIVERY, 1)
    bench.send("kept", P.REPLY, 2)
    await bench.started()
    bench.tasks["gone"].cancel()
    await until(lambda: bench.tasks["gone"].done())
    assert bench.scheduler.pending == 1
    assert await bench.at(1.0) == ["kept"]


async def test_close_lets_everything_queued_go() -> None:
    bench = Bench(per_s=1.0)
    bench.drain()
    for n in range(3):
        bench.send(f"m{n}", P.REPLY, n)
    await bench.started()
    await bench.scheduler.close()
    await until(lambda: all(t.done() for t in bench.tasks.values()))
    assert sorted(bench.names()) == ["m0", "m1", "m2"]


async def test_the_background_dispatcher_keeps_the_pace_on_the_real_clock() -> None:
    """The same queue with its own task: condition waits only (a fast rate keeps it short)."""
    scheduler = SendScheduler(LocalSendBudget(BudgetLimits(per_s=200.0, per_chat_per_s=1000.0)))
    sent: list[tuple[str, int]] = []

    async def one(name: str, priority: Priority, chat: int) -> None:
        async with scheduler.turn(priority, chat) as go:
            assert go
            sent.append((name, priority))

    tasks = [asyncio.create_task(one(f"e{n}", P.PROGRESS, n)) for n in range(40)]
    tasks += [asyncio.create_task(one(f"v{n}", P.DELIVERY, 1000 + n)) for n in range(10)]
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    await scheduler.close()
    assert len(sent) == 50
    # The first 19 edits fit the bot's burst of 20 (keeping one token) and went at once; the videos,
    # queued after the other 21, went before every one of them.
    videos = [i for i, (name, _) in enumerate(sent) if name.startswith("v")]
    assert videos == list(range(19, 29)), sent


async def test_budget_keeps_headroom_for_progress_and_none_for_the_rest() -> None:
    clock = FakeClock()
    budget = LocalSendBudget(BudgetLimits(per_s=1000.0, per_chat_per_s=1.0), clock=clock)
    assert budget.take_now(1, keep=1) is None  # the chat's bucket: 2 -> 1
    refusal = budget.take_now(1, keep=1)  # would leave none
    assert refusal is not None and refusal.chat_s == pytest.approx(1.0) and refusal.bot_s == 0
    assert budget.take_now(1, keep=0) is None  # a delivery takes the kept token
    refusal = budget.take_now(1, keep=0)
    assert refusal is not None and refusal.chat_s == pytest.approx(1.0)
    clock.now = 1.0
    assert budget.take_now(1, keep=0) is None


def test_window_limit_is_just_under_telegrams_or_the_pace_above_it() -> None:
    assert BudgetLimits(per_s=25.0).window_limit == 29  # one under Telegram's 30 a second
    assert BudgetLimits(per_s=1.0).window_limit == 29  # the pace is the buckets' business
    assert BudgetLimits(per_s=30.0).window_limit == 29  # though the pace + its burst start 33 a second
    assert BudgetLimits(per_s=100.0).window_limit == 110  # set above Telegram's: the pace + its burst


def test_window_counts_a_send_until_a_second_after_its_answer() -> None:
    clock = FakeClock()
    window = SendWindow(2, clock=clock)
    assert window.wait_s() == 0
    window.start()
    window.start()
    assert window.wait_s() is None  # both on their way: only an answer makes room
    clock.now = 5.0
    window.end()  # answered at 5.0: counts until 6.0, beside the one still on its way
    assert window.wait_s() == pytest.approx(1.0)
    clock.now = 5.5
    window.end()
    assert window.wait_s() == pytest.approx(0.5)  # the answer of 5.0 leaves the window at 6.0
    clock.now = 6.0
    assert window.wait_s() == 0
    window.start()
    assert window.wait_s() == pytest.approx(0.5)  # and the one of 5.5 at 6.5
    clock.now = 6.5
    assert window.wait_s() == 0


async def test_slow_answers_hold_sends_back_whatever_the_budget_allows() -> None:
    """Sends the budget lets go, still unanswered, may all reach Telegram within one second: no more
    than the window's limit go until answers come back (and a second has passed since)."""
    bench = Bench(per_s=1000.0, window=3)
    for n in range(5):
        bench.send(f"v{n}", P.DELIVERY, 10 + n, hold=True)
    await bench.started()
    await bench.at(0.0)
    assert bench.names() == ["v0", "v1", "v2"]
    assert bench.window is not None and bench.window.held >= 1
    assert await bench.at(3.0) == []  # three seconds on, still unanswered: nothing else goes
    bench.holds["v0"].set()
    await until(lambda: bench.tasks["v0"].done())
    assert await bench.at(3.5) == []  # answered at 3.0: it counts until 4.0
    assert await bench.at(4.0) == ["v3"]
    for name in ("v1", "v2", "v3"):
        bench.holds[name].set()
    await until(lambda: all(bench.tasks[n].done() for n in ("v1", "v2", "v3")))
    assert await bench.at(4.5) == []  # the window holds v1..v3 (answered at 4.0) until 5.0
    assert await bench.at(5.0) == ["v4"]
    bench.holds["v4"].set()
    await until(lambda: bench.tasks["v4"].done())


def test_buckets_of_chats_gone_quiet_are_forgotten_and_limits_still_hold() -> None:
    """A full bucket is what a new one would be: the budget keeps buckets for the chats sent to
    lately (swept every SWEEP_EVERY_S), not for every chat it ever saw; a chat still spending its
    burst, or held by a 429, keeps its bucket."""
    clock = FakeClock()
    budget = LocalSendBudget(BudgetLimits(per_s=1000.0, per_chat_per_s=1.0), clock=clock)
    for chat in range(1, 101):
        assert budget.take_now(chat, keep=0) is None
    assert budget.chats_kept == 100
    clock.now = LocalSendBudget.SWEEP_EVERY_S - 0.5
    assert budget.take_now(1, keep=0) is None  # chat 1 spends its refilled burst
    assert budget.take_now(1, keep=0) is None
    asyncio.run(budget.penalize(2, 60.0))  # Telegram said 429 for chat 2
    clock.now = LocalSendBudget.SWEEP_EVERY_S
    assert budget.take_now(101, keep=0) is None  # a new chat: the sweep runs
    # Kept: chat 1 (empty, not refilled yet), chat 2 (held by the 429) and the new one.
    assert budget.chats_kept == 3
    refusal = budget.take_now(1, keep=0)
    assert refusal is not None and refusal.chat_s == pytest.approx(0.5), "chat 1's spent burst was kept"
    refusal = budget.take_now(2, keep=0)
    assert refusal is not None and refusal.chat_s == pytest.approx(59.5), "chat 2's 429 was kept"
    # A forgotten chat starts from a full bucket, as it would have been.
    assert budget.take_now(50, keep=0) is None
    assert budget.take_now(50, keep=0) is None
