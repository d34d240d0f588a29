"""The message budget: token buckets for the whole bot and for each chat.

Telegram allows a bot about 30 messages a second overall, about one a second in one chat (short
bursts tolerated) and 20 a minute in a group; beyond that it answers 429 with `retry_after`. A send
takes one token from the bot's bucket and one from its chat's bucket, both or neither.

`keep` is the headroom a low-priority send must leave: a progress edit (keep=1) only goes while the
bucket would still hold a token afterwards, so a delivery or an answer arriving next finds one at
once instead of waiting behind the edit. Alone, progress edits still get the full rate.

The buckets count a send when it starts; Telegram counts it when its request arrives, which may be
much later for an upload (a video's body) or when the event loop or the connection pool holds it.
Sends started over more than a second can then arrive within one second, past the bot's limit
although the pace kept to it. `SendWindow` closes that gap: a send counts against it from its start
until a second after its answer (it arrived somewhere in between), and no more than
`BudgetLimits.window_limit` may count at once: one under Telegram's 30 (or the pace plus its burst,
if that is more). While answers come quickly it never binds; when they are slow it holds sends back
rather than let them bunch up at Telegram. It guards Telegram's limit, not the pace: the buckets
keep the pace.

`SendBudget` is the interface the scheduler uses; `LocalSendBudget` keeps the buckets in this process,
bot/shaping/redis_budget.py keeps them in Redis for a deployment of several instances.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

ChatKey = int | str
Clock = Callable[[], float]
# Float rounding must not leave a bucket a hair short of a token (a millionth of one is not a message).
EPSILON = 1e-6
# A group takes 20 messages a minute: 18/min with a burst of 2 stays within any minute's 20.
GROUP_PER_S = 18 / 60
# Tokens a chat's bucket holds: one for a progress edit and one kept for what matters more.
CHAT_BURST = 2.0
# The bot's bucket: a tenth of a second's worth, at least two tokens (one kept by progress edits).
GLOBAL_BURST_S = 0.1
# Telegram's own limit for a bot, messages in any second, and what `SendWindow` keeps to (one spare).
TELEGRAM_BOT_LIMIT_PER_S = 30
WINDOW_SPARE = 1


@dataclass(frozen=True)
class BudgetLimits:
    """Rates from the settings (TELEGRAM_MAX_MESSAGES_PER_S, TELEGRAM_MAX_PER_CHAT_PER_S)."""

    per_s: float = 25.0
    per_chat_per_s: float = 1.0

    def __post_init__(self) -> None:
        if self.per_s <= 0 or self.per_chat_per_s <= 0:
            raise ValueError("rates must be > 0")

    @property
    def global_burst(self) -> float:
        return max(2.0, self.per_s * GLOBAL_BURST_S)

    @property
    def window_limit(self) -> int:
        """Sends that may count against a `SendWindow` at once: just under Telegram's limit, or what
        the pace lets start in a second when it is set above that limit (a bot allowed more)."""
        if self.per_s <= TELEGRAM_BOT_LIMIT_PER_S:
            return TELEGRAM_BOT_LIMIT_PER_S - WINDOW_SPARE
        return math.floor(self.per_s + self.global_burst + EPSILON)

    def chat_rate(self, chat: ChatKey) -> float:
        """Groups, supergroups and channels (negative ids, @usernames) get the group limit too."""
        if is_group(chat):
            return min(self.per_chat_per_s, GROUP_PER_S)
        return self.per_chat_per_s


def is_group(chat: ChatKey) -> bool:
    return isinstance(chat, str) or chat < 0


@dataclass(frozen=True)
class Refusal:
    """Not now: seconds until the bot's bucket (`bot_s`) and the chat's (`chat_s`) would allow it.

    0 means that bucket is not what stands in the way."""

    bot_s: float
    chat_s: float


class SendBudget(Protocol):
    async def take(self, chat: ChatKey | None, *, keep: int) -> Refusal | None:
        """Take a token from the bot's bucket and the chat's, leaving `keep` in each; None when taken."""
        ...

    async def penalize(self, chat: ChatKey | None, seconds: float) -> None:
        """Telegram said 429 "retry after `seconds`": nothing goes to this chat (None: at all) until then."""
        ...


class _Bucket:
    __slots__ = ("blocked_until", "tokens", "updated_at")

    def __init__(self, tokens: float, now: float) -> None:
        self.tokens = tokens
        self.updated_at = now
        self.blocked_until = 0.0

    def wait_s(self, now: float, rate: float, burst: float, keep: int) -> float:
        """Refill to `now`; seconds until a token can be taken leaving `keep` (0: now)."""
        self.tokens = min(burst, self.tokens + max(0.0, now - self.updated_at) * rate)
        self.updated_at = now
        need = keep + 1 - self.tokens
        wait = need / rate if need > EPSILON else 0.0
        return max(wait, self.blocked_until - now, 0.0)


class LocalSendBudget:
    """The buckets in this process: right for one instance (no Redis)."""

    # Chat buckets idle long enough to be full again are forgotten (a full bucket is what a new one
    # would be): every SWEEP_EVERY_S, so the buckets kept are those of the chats sent to lately, not
    # one per chat with a waiting job's status; and at once when there are MAX_CHATS.
    MAX_CHATS = 10_000
    SWEEP_EVERY_S = 10.0

    def __init__(self, limits: BudgetLimits, *, clock: Clock = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._bot = _Bucket(limits.global_burst, clock())
        self._chats: dict[ChatKey, _Bucket] = {}
        self._next_sweep = clock() + self.SWEEP_EVERY_S

    @property
    def chats_kept(self) -> int:
        return len(self._chats)

    def _chat(self, chat: ChatKey, now: float) -> _Bucket:
        bucket = self._chats.get(chat)
        if bucket is None:
            if len(self._chats) >= self.MAX_CHATS or now >= self._next_sweep:
                self._forget_idle(now)
            bucket = self._chats[chat] = _Bucket(CHAT_BURST, now)
        return bucket

    def _forget_idle(self, now: float) -> None:
        def idle(key: ChatKey, bucket: _Bucket) -> bool:
            refill_s = CHAT_BURST / self.limits.chat_rate(key)
            return bucket.blocked_until <= now and now - bucket.updated_at >= refill_s

        self._chats = {k: b for k, b in self._chats.items() if not idle(k, b)}
        self._next_sweep = now + self.SWEEP_EVERY_S

    async def take(self, chat: ChatKey | None, *, keep: int) -> Refusal | None:
        return self.take_now(chat, keep=keep)

    def take_now(self, chat: ChatKey | None, *, keep: int) -> Refusal | None:
        now = self._clock()
        bot_s = self._bot.wait_s(now, self.limits.per_s, self.limits.global_burst, keep)
        chat_bucket = self._chat(chat, now) if chat is not None else None
        chat_s = (
            chat_bucket.wait_s(now, self.limits.chat_rate(chat), CHAT_BURST, keep)
            if chat_bucket is not None and chat is not None
            else 0.0
        )
        if bot_s > 0 or chat_s > 0:
            return Refusal(bot_s, chat_s)
        self._bot.tokens -= 1
        if chat_bucket is not None:
            chat_bucket.tokens -= 1
        return None

    async def penalize(self, chat: ChatKey | None, seconds: float) -> None:
        now = self._clock()
        bucket = self._chat(chat, now) if chat is not None else self._bot
        bucket.blocked_until = max(bucket.blocked_until, now + seconds)


class SendWindow:
    """Sends counted from their start until `length_s` after their answer (see the module docstring):
    at most `limit` at once. In this process only (with several instances each keeps its own)."""

    def __init__(self, limit: int, *, length_s: float = 1.0, clock: Clock = time.monotonic) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit = limit
        self.length_s = length_s
        self._clock = clock
        self.in_flight = 0
        self._answered: deque[float] = deque()  # answer times, oldest first
        self.held = 0  # times a send that the budget would have let go had to wait for the window
        self._started: deque[float] = deque()  # start times of the sends on their way
        self.answered = 0
        self.flight_s = 0.0  # start to answer, summed over the answered sends (a mean for reports)

    def wait_s(self) -> float | None:
        """Seconds until one more send may start (0: now; None: not before an answer arrives)."""
        now = self._clock()
        while self._answered and self._answered[0] <= now - self.length_s:
            self._answered.popleft()
        room = self.limit - self.in_flight
        if room <= 0:
            return None
        if len(self._answered) < room:
            return 0.0
        # The oldest answers must leave the window until there is room for one more.
        return max(0.0, self._answered[len(self._answered) - room] + self.length_s - now)

    def start(self) -> None:
        self.in_flight += 1
        self._started.append(self._clock())

    def end(self) -> None:
        """The send's answer arrived (or it failed): it counts for `length_s` more."""
        now = self._clock()
        self.in_flight = max(0, self.in_flight - 1)
        self._answered.append(now)
        if self._started:  # sends end in any order: the oldest start stands for this one (a mean)
            self.flight_s += now - self._started.popleft()
            self.answered += 1
