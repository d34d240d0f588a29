"""/models: every offered model's one-line card (bot/telegram/model_cards.py)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.catalog.model import Catalog
from bot.store.users import UserRow
from bot.telegram.model_cards import card_line

# Telegram's limit is 4096; the list is cut into messages below it at entry boundaries.
MODELS_MESSAGE_CHARS = 3800


def models_text(catalog: Catalog, lang: str) -> list[str]:
    """Every offered model's one-line card (the wizard's model step shows the same), in messages
    below Telegram's limit."""
    chunks: list[str] = [_("models-title") + "\n"]
    for entry in catalog.offerable():
        line = card_line(catalog, entry, lang)
        if catalog.is_degraded(entry):
            line = f"{line}\n{_('models-degraded')}"
        if len(chunks[-1]) + len(line) + 2 > MODELS_MESSAGE_CHARS:
            chunks.append("")
        chunks[-1] = f"{chunks[-1]}\n{line}\n" if chunks[-1] else f"{line}\n"
    footer = _("models-footer")
    if len(chunks[-1]) + len(footer) + 1 > MODELS_MESSAGE_CHARS:
        chunks.append("")
    chunks[-1] = f"{chunks[-1]}\n{footer}"
    return chunks


async def models_command(message: Message, db_user: UserRow, catalog: Catalog) -> None:
    for chunk in models_text(catalog, db_user.language):
        await message.answer(chunk)


def make_models_router() -> Router:
    router = Router(name="models")
    router.message.register(models_command, Command("models"))
    return router
