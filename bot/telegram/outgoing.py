"""Outgoing Telegram traffic, shaped: every message and edit waits for its turn in the send budget.

`ShapingMiddleware` is a Bot session middleware. It lets through at once what Telegram does not count
as messages (answerCallbackQuery, sendChatAction, getUpdates, setWebhook, ...) and hands every send,
edit, copy and forward to the `SendScheduler` (bot/shaping), with:

- the chat (its `chat_id`; an inline message's edit has none and counts for the bot only);
- the priority the caller marked with `sending_as(...)`, `Priority.REPLY` when unmarked: the
  result sender (job_results.py) marks deliveries, the status view (job_status.py) its edits;
- for an edit marked `coalesce=True`, the message as coalescing key: a newer edit of the same
  message replaces an older one still queued, and the older call returns True, as Telegram answers
  a successful edit of an inline message (its caller never reads it: the text shown is the newer);
- for a send marked with `still_wanted`, a last question once its turn has come: a status refresh
  queued behind other sends asks whether its job is still waiting (another instance may have shown
  the final status meanwhile, which the refresh must not cover). A send dropped so returns True too.

A 429 Telegram still answers holds the chat (or the bot) in the budget for `retry_after`; the
RetryAfterMiddleware around this one then waits and sends again, through the queue.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Hashable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType

from bot.shaping.budget import ChatKey
from bot.shaping.scheduler import Priority, SendScheduler

# Counted by Telegram as messages: sending, editing, copying, forwarding (and stopping a poll or live
# location, which edits a message). sendChatAction is not a message.
_SHAPED_PREFIXES = ("send", "edit", "copy", "forward", "stop")
_UNSHAPED = frozenset({"sendChatAction"})


@dataclass(frozen=True)
class OutgoingMark:
    priority: Priority
    coalesce: bool = False
    still_wanted: Callable[[], Awaitable[bool]] | None = None


_mark: ContextVar[OutgoingMark | None] = ContextVar("outgoing_mark", default=None)


@contextlib.contextmanager
def sending_as(
    priority: Priority,
    *,
    coalesce: bool = False,
    still_wanted: Callable[[], Awaitable[bool]] | None = None,
) -> Iterator[None]:
    """Bot API calls made inside this block (and tasks started in it) go with this priority.

    `coalesce=True`: edits made here may be replaced by a newer edit of the same message.
    `still_wanted`: awaited when a send's turn comes, right before it goes; False drops it (the budget
    token its turn took is spent: asking any sooner would leave the wait in which things change)."""
    token = _mark.set(OutgoingMark(priority, coalesce, still_wanted))
    try:
        yield
    finally:
        _mark.reset(token)


def is_shaped(api_method: str) -> bool:
    return api_method.startswith(_SHAPED_PREFIXES) and api_method not in _UNSHAPED


def chat_of(method: TelegramMethod[Any]) -> ChatKey | None:
    chat = getattr(method, "chat_id", None)
    return chat if isinstance(chat, int | str) else None


def coalesce_key(method: TelegramMethod[Any], chat: ChatKey | None) -> Hashable | None:
    """An edit of one identified message; anything else is never replaced."""
    message_id = getattr(method, "message_id", None)
    if not method.__api_method__.startswith("edit") or chat is None or not isinstance(message_id, int):
        return None
    return (chat, message_id)


class ShapingMiddleware(BaseRequestMiddleware):
    def __init__(self, scheduler: SendScheduler) -> None:
        self.scheduler = scheduler

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if not is_shaped(method.__api_method__):
            return await make_request(bot, method)
        mark = _mark.get()
        priority = mark.priority if mark is not None else Priority.REPLY
        chat = chat_of(method)
        key = coalesce_key(method, chat) if mark is not None and mark.coalesce else None
        async with self.scheduler.turn(priority, chat, key) as go:
            if not go:
                # Superseded by a newer edit of the same message, which is what the user will see.
                return cast(Response[TelegramType], True)
            if mark is not None and mark.still_wanted is not None and not await mark.still_wanted():
                return cast(Response[TelegramType], True)
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                await self.scheduler.penalize(chat, float(exc.retry_after))
                raise
