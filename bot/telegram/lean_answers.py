"""Bot API calls whose answer the bot reads only in part.

aiogram parses every answer into the method's full return type: an edited or sent message becomes
a Message with its chat, sender, entities and keyboard, all validated and every object bound to the
bot. Where the bot reads nothing of the answer but the message id or the sent file's id, that is
wasted: measured, it was about a fifth of the bot's CPU per wizard tap (bench/bench_wizard.py: the
edit's answer carries the whole 12-button keyboard back) and a good share of each delivered video's.

These methods send exactly the request aiogram's own would (they are its method classes, with the
same fields, defaults, middlewares and errors); only the answer is read into a small model that
takes the fields named here and ignores the rest without validating it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from aiogram import Bot
from aiogram.methods import EditMessageReplyMarkup, EditMessageText, SendDocument, SendVideo
from aiogram.types import InlineKeyboardMarkup
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


if TYPE_CHECKING:
    # mypy reads a pydantic subclass's fields as a new __init__ and misses the defaults aiogram gives
    # its fields; to the type checker these are the aiogram classes they extend (the same fields).
    EditTextReadingId = EditMessageText
    EditMarkupReadingId = EditMessageReplyMarkup
    SendVideoReadingFileId = SendVideo
    SendDocumentReadingFileId = SendDocument
else:

    class EditTextReadingId(EditMessageText):
        # An inline message's edit answers `true`, any other the message.
        __returning__ = MessageRef | bool

    class EditMarkupReadingId(EditMessageReplyMarkup):
        __returning__ = MessageRef | bool

    class SendVideoReadingFileId(SendVideo):
        __returning__ = SentFile

    class SendDocumentReadingFileId(SendDocument):
        __returning__ = SentFile


# The answer models the requests above are parsed with (middlewares.PinnedResponseModels keeps them).
ANSWER_TYPES: tuple[object, ...] = (MessageRef | bool, SentFile)


async def edit_text(
    bot: Bot, *, chat_id: int, message_id: int, text: str, reply_markup: InlineKeyboardMarkup | None = None
) -> None:
    """bot.edit_message_text without reading the edited message back."""
    await bot(EditTextReadingId(chat_id=chat_id, message_id=message_id, text=text, reply_markup=reply_markup))


async def edit_markup(
    bot: Bot, *, chat_id: int, message_id: int, reply_markup: InlineKeyboardMarkup | None = None
) -> None:
    """bot.edit_message_reply_markup without reading the edited message back."""
    await bot(EditMarkupReadingId(chat_id=chat_id, message_id=message_id, reply_markup=reply_markup))


async def send_file(
    bot: Bot, method: SendVideoReadingFileId | SendDocumentReadingFileId, request_timeout: int | None = None
) -> SentFile:
    # aiogram types the call by the parent class's return type; the answer is what __returning__ says.
    return cast(SentFile, await bot(method, request_timeout=request_timeout))
