"""/models: every model with a description, its modes and its lowest price."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.catalog.availability import DEGRADED_MARK
from bot.catalog.model import Catalog, mode_name
from bot.store.users import UserRow
from bot.telegram.common import escape

# Telegram's limit is 4096; the list is cut into messages below it at entry boundaries.
MODELS_MESSAGE_CHARS = 3800


def models_text(catalog: Catalog, lang: str) -> list[str]:
    chunks: list[str] = [_("models-title") + "\n"]
    for entry in catalog.offerable():
        modes = ", ".join(mode_name(m, lang) for m in catalog.offered_modes(entry))
        line = _("models-line").format(
            name=escape(entry.display_name(lang)),
            maker=escape(entry.maker),
            description=escape(entry.description(lang)),
            modes=escape(modes),
            price=entry.min_user_price,
        )
        if catalog.is_degraded(entry):
            line = f"{DEGRADED_MARK} {line}\n{_('models-degraded')}"
        if len(chunks[-1]) + len(line) + 1 > MODELS_MESSAGE_CHARS:
            chunks.append("")
        chunks[-1] = f"{chunks[-1]}\n{line}" if chunks[-1] else line
    return chunks


async def models_command(message: Message, db_user: UserRow, catalog: Catalog) -> None:
    for chunk in models_text(catalog, db_user.language):
        await message.answer(chunk)


def make_models_router() -> Router:
    router = Router(name="models")
    router.message.register(models_command, Command("models"))
    return router
