"""Optional flood control: the fake refuses with 429 what real Telegram would (off by default).

Telegram's limits for bots (Bot FAQ "My bot is hitting limits", testing-notes.md §6): about one
message a second in one chat (short bursts tolerated), about 30 a second for the whole bot, 20 a
minute in a group. Past them it answers 429 "Too Many Requests: retry after N" with
``parameters.retry_after``. Messages are what counts: sending, editing, copying, forwarding;
not sendChatAction, answerCallbackQuery, getUpdates or the bot's settings.

Enable with ``FakeTelegram(flood_control=FloodControl())`` or ``fake.flood_control = FloodControl()``.
Each counted call is checked when the fake handles it (its body read), refused calls do not count.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

# Lower-case method name prefixes Telegram counts as messages.
COUNTED_PREFIXES = ("send", "edit", "copy", "forward", "stop")
NOT_COUNTED = frozenset({"sendchataction"})


@dataclass
class FloodControl:
    """The limits, and what they refused (`refused`: one (method, chat_id) per 429; `reasons`: which
    limit each one hit, "bot", "chat" or "group", for reports)."""

    per_chat_per_s: float = 1.0
    per_chat_burst: float = 3.0  # a private chat's token bucket
    per_group_per_min: int = 20  # any 60 s window, for a group, supergroup or channel
    per_bot_per_s: int = 30  # any 1 s window, every chat together
    clock: Callable[[], float] = time.monotonic
    refused: list[tuple[str, object]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    admitted: int = 0
    _bot: deque[float] = field(default_factory=deque)
    _groups: dict[object, deque[float]] = field(default_factory=dict)
    _chats: dict[object, tuple[float, float]] = field(default_factory=dict)  # tokens, updated at

    @staticmethod
    def counts(method: str) -> bool:
        name = method.lower()
        return name.startswith(COUNTED_PREFIXES) and name not in NOT_COUNTED

    def check(self, method: str, chat_id: object) -> int | None:
        """None: admitted (and counted); else the retry_after to answer with (whole seconds, >= 1)."""
        if not self.counts(method):
            return None
        now = self.clock()
        waits = [self._window_wait(self._bot, now, 1.0, self.per_bot_per_s)]
        group = isinstance(chat_id, str) or (isinstance(chat_id, int) and chat_id < 0)
        if chat_id is not None and group:
            window = self._groups.setdefault(chat_id, deque())
            waits.append(self._window_wait(window, now, 60.0, self.per_group_per_min))
        elif chat_id is not None:
            tokens, updated = self._chats.get(chat_id, (self.per_chat_burst, now))
            tokens = min(self.per_chat_burst, tokens + (now - updated) * self.per_chat_per_s)
            self._chats[chat_id] = (tokens, now)
            waits.append(0.0 if tokens >= 1.0 else (1.0 - tokens) / self.per_chat_per_s)
        wait = max(waits)
        if wait > 0:
            self.refused.append((method, chat_id))
            self.reasons.append("bot" if waits[0] == wait else "group" if group else "chat")
            return max(1, math.ceil(wait))
        self._bot.append(now)
        if chat_id is not None and group:
            self._groups[chat_id].append(now)
        elif chat_id is not None:
            tokens, _ = self._chats[chat_id]
            self._chats[chat_id] = (tokens - 1.0, now)
        self.admitted += 1
        return None

    @staticmethod
    def _window_wait(window: deque[float], now: float, length_s: float, limit: int) -> float:
        while window and window[0] <= now - length_s:
            window.popleft()
        if len(window) < limit:
            return 0.0
        return window[len(window) - limit] + length_s - now
