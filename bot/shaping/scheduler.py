"""The send queue: sends that do not fit the budget yet wait here and go by priority.

Order: `Priority` first (a finished video before an answer to a tap before a progress edit), then
arrival. A send whose chat has no token yet does not hold back sends to other chats; a send refused
by the bot's budget stops the round, since nothing behind it would fit either. A progress edit keeps
one token of headroom in both buckets (see budget.py), so what matters more never waits behind it.

With a `SendWindow` (budget.py) a send also waits while too many sends may still be on their way to
Telegram: counted from when they are let go until a second after their answer, whatever their priority.

Coalescing: a send with a `coalesce_key` (an edit of one message) replaces a queued, not yet sent
send with the same key; the older caller is told it was superseded. A newer one never overtakes an
older one already on its way: it waits until that one is answered, so edits land in call order.

`turn()` is the whole interface. A send that fits at once (the queue empty) goes without a context
switch; otherwise it waits for `dispatch()`, run by one background task (started on first use) or
called directly by tests with a fake clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass, field
from enum import IntEnum

from bot.shaping.budget import ChatKey, Clock, SendBudget, SendWindow

log = logging.getLogger(__name__)
_TOLERANCE_S = 1e-6


class Priority(IntEnum):
    """Lower goes first."""

    DELIVERY = 0  # a finished job's video, document or download link
    REPLY = 1  # everything not marked otherwise: answers to a user's action, notices
    PROGRESS = 2  # a job's status message while it runs; coalesced per message

    @property
    def keep(self) -> int:
        """Tokens this send must leave in each bucket (headroom for what matters more)."""
        return 1 if self is Priority.PROGRESS else 0


@dataclass
class PriorityStats:
    sent: int = 0
    superseded: int = 0
    queued: int = 0  # sends that had to wait at all
    wait_s: float = 0.0  # total time waited in the queue
    max_wait_s: float = 0.0


@dataclass(eq=False)
class _Ticket:
    priority: Priority
    chat: ChatKey | None
    coalesce_key: Hashable | None
    queued_at: float
    seq: int
    go: asyncio.Future[bool] = field(repr=False)


class SendScheduler:
    def __init__(
        self,
        budget: SendBudget,
        *,
        window: SendWindow | None = None,
        clock: Clock = time.monotonic,
        background: bool = True,
    ) -> None:
        """`window`: sends counted until their answer (budget.py), None: the budget alone.
        `background=False` (tests on a fake clock): nothing is dispatched unless `dispatch()` is called."""
        self.budget = budget
        self.window = window
        self._clock = clock
        self._background = background
        self._seq = itertools.count()
        # Per priority, in arrival order (a superseding edit takes over its predecessor's place).
        self._queues: dict[Priority, dict[int, _Ticket]] = {p: {} for p in Priority}
        self._queued_by_key: dict[Hashable, _Ticket] = {}
        self._in_flight_keys: dict[Hashable, int] = {}
        # Until when a refusal said it is pointless to ask again: per (chat, keep) and per keep.
        self._chat_blocked: dict[tuple[ChatKey, int], float] = {}
        self._bot_blocked: dict[int, float] = {}
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.stats: dict[Priority, PriorityStats] = {p: PriorityStats() for p in Priority}

    @property
    def pending(self) -> int:
        return sum(len(q) for q in self._queues.values())

    @contextlib.asynccontextmanager
    async def turn(
        self, priority: Priority, chat: ChatKey | None, coalesce_key: Hashable | None = None
    ) -> AsyncIterator[bool]:
        """Wait for this send's turn; yields True to send, False when a newer edit superseded it.

        The send is made inside the block: a coalesced key counts as on its way until the block ends.
        """
        stats = self.stats[priority]
        if not await self._go_at_once(priority, chat, coalesce_key):
            ticket = self._enqueue(priority, chat, coalesce_key)
            try:
                go = await ticket.go
            except BaseException:
                self._drop(ticket)
                raise
            waited = self._clock() - ticket.queued_at
            stats.queued += 1
            stats.wait_s += waited
            stats.max_wait_s = max(stats.max_wait_s, waited)
            if not go:
                stats.superseded += 1
                yield False
                return
        stats.sent += 1
        try:
            yield True
        finally:
            self._end_send(coalesce_key)

    async def penalize(self, chat: ChatKey | None, seconds: float) -> None:
        """Telegram answered 429: hold this chat (None: everything) for `seconds`."""
        until = self._clock() + seconds
        if chat is None:
            for keep in (0, 1):
                self._bot_blocked[keep] = max(self._bot_blocked.get(keep, 0.0), until)
        else:
            for keep in (0, 1):
                self._chat_blocked[(chat, keep)] = max(self._chat_blocked.get((chat, keep), 0.0), until)
        await self.budget.penalize(chat, seconds)

    async def close(self) -> None:
        """Let everything queued go (the session is closing; its calls fail or succeed as they may)."""
        self._closed = True
        for queue in self._queues.values():
            for ticket in queue.values():
                if not ticket.go.done():
                    ticket.go.set_result(True)
                    self._start_send(ticket.coalesce_key)
            queue.clear()
        self._queued_by_key.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # --- the queue -----------------------------------------------------------------------------

    async def _go_at_once(self, priority: Priority, chat: ChatKey | None, key: Hashable | None) -> bool:
        if self._closed:
            self._start_send(key)
            return True
        if self.pending or (key is not None and key in self._in_flight_keys):
            return False
        now = self._clock()
        if self._blocked(chat, priority.keep, now):
            return False
        if self.window is not None and self.window.wait_s() != 0:
            self.window.held += 1
            return False
        if await self.budget.take(chat, keep=priority.keep) is not None:
            return False
        self._start_send(key)
        return True

    def _enqueue(self, priority: Priority, chat: ChatKey | None, key: Hashable | None) -> _Ticket:
        ticket = _Ticket(
            priority, chat, key, self._clock(), next(self._seq), asyncio.get_running_loop().create_future()
        )
        queue = self._queues[priority]
        older = self._queued_by_key.get(key) if key is not None else None
        if older is not None and not older.go.done():
            # The older edit will never be seen: this one replaces it, in its place in line if it can
            # (assigning to an existing key keeps the key's position in a dict).
            older.go.set_result(False)
            if older.priority is priority and older.seq in queue:
                ticket.seq = older.seq
            else:
                self._remove(older)
        queue[ticket.seq] = ticket
        if key is not None:
            self._queued_by_key[key] = ticket
        self._kick.set()
        if self._task is None and self._background:
            self._task = asyncio.create_task(self._run(), name="send-scheduler")
        return ticket

    def _drop(self, ticket: _Ticket) -> None:
        """The caller gave up (cancelled) before or right as its turn came."""
        self._remove(ticket)
        granted = ticket.go.done() and not ticket.go.cancelled() and ticket.go.result()
        if granted:
            self._end_send(ticket.coalesce_key)
        self._kick.set()

    def _remove(self, ticket: _Ticket) -> None:
        """Out of the queue, unless a newer edit already took over its place."""
        queue = self._queues[ticket.priority]
        if queue.get(ticket.seq) is ticket:
            del queue[ticket.seq]
        key = ticket.coalesce_key
        if key is not None and self._queued_by_key.get(key) is ticket:
            del self._queued_by_key[key]

    def _start_send(self, key: Hashable | None) -> None:
        """A send was let go: on its way until `_end_send` (its answer, or its failure)."""
        if self.window is not None:
            self.window.start()
        if key is not None:
            self._in_flight_keys[key] = self._in_flight_keys.get(key, 0) + 1

    def _end_send(self, key: Hashable | None) -> None:
        if self.window is not None:
            self.window.end()
        if key is not None:
            left = self._in_flight_keys.get(key, 0) - 1
            if left > 0:
                self._in_flight_keys[key] = left
            else:
                self._in_flight_keys.pop(key, None)
        self._kick.set()

    def _blocked(self, chat: ChatKey | None, keep: int, now: float) -> bool:
        # A microsecond's tolerance: float sums must not make a send miss its moment by a hair.
        now += _TOLERANCE_S
        if any(self._bot_blocked.get(k, 0.0) > now for k in range(keep + 1)):
            return True
        return chat is not None and any(self._chat_blocked.get((chat, k), 0.0) > now for k in range(keep + 1))

    def _blocked_until(self, chat: ChatKey | None, keep: int) -> float:
        until = max((self._bot_blocked.get(k, 0.0) for k in range(keep + 1)), default=0.0)
        if chat is not None:
            until = max(until, *(self._chat_blocked.get((chat, k), 0.0) for k in range(keep + 1)))
        return until

    async def dispatch(self) -> float | None:
        """Let go every queued send that fits now, in order; when to try again (None: queue empty)."""
        now = self._clock()
        if len(self._chat_blocked) > 1024:
            self._chat_blocked = {k: t for k, t in self._chat_blocked.items() if t > now}
        retry_at: float | None = None
        for priority in Priority:
            keep = priority.keep
            for ticket in list(self._queues[priority].values()):
                if ticket.go.done():  # cancelled by its caller
                    self._remove(ticket)
                    continue
                if ticket.coalesce_key is not None and ticket.coalesce_key in self._in_flight_keys:
                    continue  # dispatch runs again when that one is answered
                if self._blocked(ticket.chat, keep, now):
                    until = self._blocked_until(ticket.chat, keep)
                    retry_at = until if retry_at is None else min(retry_at, until)
                    if self._blocked(None, keep, now):
                        return retry_at
                    continue
                if self.window is not None and (window_s := self.window.wait_s()) != 0:
                    # Too many sends may still be on their way to Telegram: nothing else goes either.
                    self.window.held += 1
                    if window_s is None:  # the next answer kicks dispatch
                        return retry_at
                    return now + window_s if retry_at is None else min(retry_at, now + window_s)
                refusal = await self.budget.take(ticket.chat, keep=keep)
                now = self._clock()
                if ticket.go.done():  # cancelled or superseded while the budget was asked
                    self._remove(ticket)
                    continue
                if refusal is None:
                    self._remove(ticket)
                    self._start_send(ticket.coalesce_key)
                    ticket.go.set_result(True)
                    continue
                if refusal.chat_s > 0 and ticket.chat is not None:
                    self._chat_blocked[(ticket.chat, keep)] = now + refusal.chat_s
                if refusal.bot_s > 0:
                    self._bot_blocked[keep] = now + refusal.bot_s
                until = self._blocked_until(ticket.chat, keep)
                retry_at = until if retry_at is None else min(retry_at, until)
                if refusal.bot_s > 0:
                    return retry_at  # nothing behind it fits the bot's budget either
        return retry_at

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._kick.clear()
            try:
                retry_at = await self.dispatch()
            except Exception:
                # A budget that cannot be asked (Redis down) must not stop every send for good.
                log.exception("Send scheduler: dispatch failed; retrying in 1 s")
                retry_at = self._clock() + 1.0
            if retry_at is None:
                await self._kick.wait()
                continue
            timer = loop.call_later(max(0.0, retry_at - self._clock()), self._kick.set)
            try:
                await self._kick.wait()
            finally:
                timer.cancel()
