"""The bot talks to people in private chats only.

In a group it answers an explicit command with one line pointing to the private chat and ignores
everything else; channel posts and messages from bots (including the GroupAnonymousBot stand-in
for anonymous group admins) are ignored without a word. This runs before the user and i18n
middlewares, so nobody is registered, and no handler runs, for an update the bot does not serve.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.types import Message, TelegramObject, Update

from bot.i18n import language_for, translate
from bot.services.accounts import AccountsService
from bot.telegram.common import COMMANDS

log = logging.getLogger(__name__)

GROUP_CHATS = frozenset({ChatType.GROUP, ChatType.SUPERGROUP})


class PrivateChatsOnly(BaseMiddleware):
    """Dispatcher-level outer middleware on updates: lets through only what the bot serves."""

    def __init__(self, accounts: AccountsService) -> None:
        self.accounts = accounts
        # /start, /generate ... bare or addressed to this bot (/start@this_bot), never /start@other_bot.
        self.our_commands = Command(*(name for name, _ in COMMANDS))

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        if event.channel_post is not None or event.edited_channel_post is not None:
            return UNHANDLED
        message = event.message or event.edited_message
        if message is not None:
            sender = message.from_user
            from_a_person = sender is not None and not sender.is_bot
            if message.chat.type == ChatType.PRIVATE and from_a_person:
                return await handler(event, data)
            if message.chat.type in GROUP_CHATS and from_a_person and event.message is not None:
                bot: Bot = data["bot"]
                if await self.our_commands(message, bot):
                    await self._point_to_private_chat(message, bot)
            return UNHANDLED
        query = event.callback_query
        if query is not None and query.message is not None and query.message.chat.type != ChatType.PRIVATE:
            # A button under a message in a group: stop its spinner, change nothing.
            with contextlib.suppress(TelegramAPIError):
                await query.answer()
            return UNHANDLED
        return await handler(event, data)

    async def _point_to_private_chat(self, message: Message, bot: Bot) -> None:
        assert message.from_user is not None
        stored = await self.accounts.get(message.from_user.id)
        language = stored.language if stored else language_for(message.from_user.language_code)
        me = await bot.me()  # cached by aiogram after the first call
        text = translate("group-use-private-chat", language, link=f"https://t.me/{me.username}")
        try:
            await message.reply(text, allow_sending_without_reply=True)
        except TelegramAPIError as exc:  # e.g. the group does not let the bot write
            log.info("Could not answer a command in chat %s: %s", message.chat.id, exc)
