"""Answering taps and updating messages, the same way everywhere."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup

from bot.telegram.lean_answers import edit_markup, edit_text

log = logging.getLogger(__name__)


async def answer_query(query: CallbackQuery, text: str | None = None, *, alert: bool = False) -> None:
    """Answer the tap now (the spinner stops before slow work), once: CallbackAnswerGuard answers
    only what a handler left unanswered.

    Answering is best effort: a query Telegram re-sent, or one older than its answer window, cannot
    be answered any more, and that must not stop the work the tap asked for (a confirmed order
    still has to be submitted)."""
    try:
        await query.answer(text, show_alert=alert)
    except TelegramBadRequest as exc:
        log.info("Could not answer callback query %s: %s", query.id, exc.message)


def is_not_modified(exc: TelegramBadRequest) -> bool:
    """Telegram refuses an edit that changes nothing; the message already shows what we wanted."""
    return "message is not modified" in str(exc)


async def edit_or_send(
    bot: Bot, chat_id: int, message_id: int | None, text: str, markup: InlineKeyboardMarkup | None
) -> int:
    """Show `text` in message `message_id` if it can still be edited, else in a new message.
    Returns the id of the message that shows it."""
    if message_id is not None:
        try:
            await edit_text(bot, chat_id=chat_id, message_id=message_id, text=text, reply_markup=markup)
            return message_id
        except TelegramBadRequest as exc:
            if is_not_modified(exc):
                return message_id
    sent = await bot.send_message(chat_id, text, reply_markup=markup)
    return sent.message_id


async def remove_keyboard(bot: Bot, chat_id: int, message_id: int | None) -> None:
    """Take the buttons off an old message (best effort: it may be gone or too old to edit)."""
    if message_id is None:
        return
    with contextlib.suppress(TelegramBadRequest):
        await edit_markup(bot, chat_id=chat_id, message_id=message_id, reply_markup=None)
