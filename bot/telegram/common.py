"""Pieces every router shares: the main menu, command list, escaping."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import BotCommand, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import translate
from bot.text import escape, shorten

__all__ = ["COMMANDS", "MenuCb", "bot_commands", "escape", "main_menu_keyboard", "shorten"]


class MenuCb(CallbackData, prefix="menu"):
    action: str  # generate | balance | buy | history | help | language


MENU_ACTIONS = ("generate", "balance", "buy", "history", "help", "language")


def main_menu_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("menu-generate"), callback_data=MenuCb(action="generate"))
    builder.button(text=_("menu-balance"), callback_data=MenuCb(action="balance"))
    builder.button(text=_("menu-buy"), callback_data=MenuCb(action="buy"))
    builder.button(text=_("menu-history"), callback_data=MenuCb(action="history"))
    builder.button(text=_("menu-help"), callback_data=MenuCb(action="help"))
    builder.button(text=_("menu-language"), callback_data=MenuCb(action="language"))
    builder.adjust(1, 2, 2, 1)
    return builder.as_markup()


# (command, description key): the order users see in the command menu.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("generate", "cmd-generate"),
    ("models", "cmd-models"),
    ("balance", "cmd-balance"),
    ("buy", "cmd-buy"),
    ("history", "cmd-history"),
    ("language", "cmd-language"),
    ("help", "cmd-help"),
    ("cancel", "cmd-cancel"),
    ("invite", "cmd-invite"),
    ("paysupport", "cmd-paysupport"),
    ("start", "cmd-start"),
)


def bot_commands(language: str) -> list[BotCommand]:
    return [BotCommand(command=c, description=translate(key, language)) for c, key in COMMANDS]
