"""Bot API calls whose answer the bot reads only in part.

aiogram parses every answer into the method's full return type: an edited or sent message becomes
a Message with its chat, sender, entities and keyboard, all validated and every object bound to the
bot. Where the bot reads nothing of the answer but the message id or the sent file's id, that is
wasted: measured, it was about a fifth of the bot's CPU per wizard tap (bench/bench_wizard.py: the
edit's answer carries the whole 12-button keyboard back) and a good share of each delivered video's.

The calls here are aiogram's own (same request, middlewares and errors). Only a successful answer
is read differently: TelegramHttpSession.check_response asks `answer_response_model()` and, inside
`answer_read_as`, validates the answer as that small model, which takes the fields named here and
skips the rest. Refusals and anything the small model cannot read go through aiogram's own parsing.
(Subclassing aiogram's method classes with another `__returning__` would do the same, but each
subclass builds its own pydantic schema: measured, 0.3 MB of the bot's memory for four methods.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Iterator
from contextvars import ContextVar
from typing import Any, cast

from aiogram import Bot
from aiogram.methods.base import Response
from aiogram.types import InlineKeyboardMarkup, Message
from pydantic import BaseModel, ConfigDict


class MessageRef(BaseModel):
    """A message as far as the bot reads it back: its id."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    message_id: int


class FileRef(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    file_id: str


class SentFile(MessageRef):
    """A sent video or document: the file id lets /history send it again without a new upload."""

    video: FileRef | None = None
    document: FileRef | None = None


# An inline message's edit answers `true`, any other the message.
EDITED = MessageRef | bool

# Built once and kept: pydantic keeps a parametrized generic only weakly (see PinnedResponseModels).
_RESPONSES: dict[Any, type[Response[Any]]] = {
    EDITED: Response[EDITED],
    SentFile: Response[SentFile],
}

_answer_model: ContextVar[Any] = ContextVar("telegram_answer_model", default=None)


def answer_response_model() -> type[Response[Any]] | None:
    """The Response model a successful answer of the call under way is read as (None: aiogram's)."""
    model = _answer_model.get()
    return None if model is None else _RESPONSES[model]


@contextlib.contextmanager
def answer_read_as(model: Any) -> Iterator[None]:
    """Bot API calls made in this block (by this task) read a successful answer as `model`."""
    token = _answer_model.set(model)
    try:
        yield
    finally:
        _answer_model.reset(token)


async def edit_text(
    bot: Bot, *, chat_id: int, message_id: int, text: str, reply_markup: InlineKeyboardMarkup | None = None
) -> None:
    """bot.edit_message_text without reading the edited message back."""
    with answer_read_as(EDITED):
        await bot.edit_message_text(text, chat_id=chat_id, message_id=message_id, reply_markup=reply_markup)


async def edit_markup(
    bot: Bot, *, chat_id: int, message_id: int, reply_markup: InlineKeyboardMarkup | None = None
) -> None:
    """bot.edit_message_reply_markup without reading the edited message back."""
    with answer_read_as(EDITED):
        await bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id, reply_markup=reply_markup)


async def read_sent_file(sending: Awaitable[Message]) -> SentFile:
    """Await bot.send_video(...) or bot.send_document(...) (not awaited yet), reading back the ids only.

    aiogram types the call as a Message; under answer_read_as it returns a SentFile. A session that
    ignores answer_read_as (a test double) returns the Message, which has the same fields."""
    with answer_read_as(SentFile):
        return cast(SentFile, await sending)
