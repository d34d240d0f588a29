"""/models: every offered model's one-line card (bot/telegram/model_cards.py), with an ℹ️ button per
model that shows its full card in the same message. The card's Back shows the list again; its Choose
starts the wizard with that model (wizard/entry.py, which reuses the wizard's own start).

The list keeps no state: a button is honoured only when the message it was tapped on shows it (a
forged callback is not on the keyboard) and, for a model, while the menu still offers that model.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.catalog.model import Catalog
from bot.store.users import UserRow
from bot.telegram.model_cards import card_line, full_card
from bot.telegram.replies import answer_query, edit_or_send

# Telegram's limit is 4096; the list is cut into messages below it at entry boundaries.
MODELS_MESSAGE_CHARS = 3800
INFO_BUTTONS_PER_ROW = 2


class ModelsCb(CallbackData, prefix="models"):
    """A /models button: "info" (the full card), "list" (the card's Back), "order" (the card's Choose)."""

    action: str
    key: str


@dataclass(frozen=True)
class ModelsPage:
    """One message of the list: its text and the models it shows (one ℹ️ button each)."""

    text: str
    keys: tuple[str, ...]


def models_pages(catalog: Catalog, lang: str) -> list[ModelsPage]:
    """Every offered model's one-line card (the wizard's model step shows the same), in messages
    below Telegram's limit."""
    chunks: list[str] = [_("models-title") + "\n"]
    keys: list[list[str]] = [[]]
    for entry in catalog.offerable():
        line = card_line(catalog, entry, lang)
        if catalog.is_degraded(entry):
            line = f"{line}\n{_('models-degraded')}"
        if len(chunks[-1]) + len(line) + 2 > MODELS_MESSAGE_CHARS:
            chunks.append("")
            keys.append([])
        chunks[-1] = f"{chunks[-1]}\n{line}\n" if chunks[-1] else f"{line}\n"
        keys[-1].append(entry.key)
    footer = _("models-footer")
    if len(chunks[-1]) + len(footer) + 1 > MODELS_MESSAGE_CHARS:
        chunks.append("")
        keys.append([])
    chunks[-1] = f"{chunks[-1]}\n{footer}"
    return [ModelsPage(text, tuple(page_keys)) for text, page_keys in zip(chunks, keys, strict=True)]


def _button(text: str, action: str, key: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=ModelsCb(action=action, key=key).pack())


def page_keyboard(page: ModelsPage, catalog: Catalog, lang: str) -> InlineKeyboardMarkup | None:
    buttons = []
    for key in page.keys:
        entry = catalog.get(key)
        assert entry is not None, "a page lists a model the catalog does not have"
        buttons.append(_button(_("models-info-button").format(name=entry.display_name(lang)), "info", key))
    rows = [buttons[i : i + INFO_BUTTONS_PER_ROW] for i in range(0, len(buttons), INFO_BUTTONS_PER_ROW)]
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def card_keyboard(key: str, name: str) -> InlineKeyboardMarkup:
    choose = _button(_("card-choose").format(name=name), "order", key)
    return InlineKeyboardMarkup(inline_keyboard=[[choose], [_button(_("card-back"), "list", key)]])


def card_refusal(
    query: CallbackQuery, data: ModelsCb, catalog: Catalog, *, offered: bool = True
) -> str | None:
    """Why a /models button changes nothing, in the user's words; None when it may act.
    `offered`: the button needs the model to be on the menu now (ℹ️ and Choose, not Back)."""
    message = query.message if isinstance(query.message, Message) else None
    markup = message.reply_markup if message is not None else None
    buttons = [b for row in markup.inline_keyboard for b in row] if markup is not None else []
    shown = any(b.callback_data == query.data for b in buttons)
    if not shown:  # forged, or a button of a message that shows something else now
        return _("models-stale")
    if offered and catalog.get_offerable(data.key) is None:  # hidden or retired since, or made up
        return _("models-not-offered")
    return None


async def models_command(message: Message, db_user: UserRow, catalog: Catalog) -> None:
    for page in models_pages(catalog, db_user.language):
        await message.answer(page.text, reply_markup=page_keyboard(page, catalog, db_user.language))


async def show_card(
    query: CallbackQuery, callback_data: ModelsCb, bot: Bot, db_user: UserRow, catalog: Catalog
) -> None:
    refusal = card_refusal(query, callback_data, catalog)
    entry = catalog.get_offerable(callback_data.key)
    if refusal is not None or entry is None or not isinstance(query.message, Message):
        await answer_query(query, refusal or _("models-stale"), alert=True)
        return
    await answer_query(query)
    lang = db_user.language
    text, markup = full_card(catalog, entry, lang), card_keyboard(entry.key, entry.name(lang))
    await edit_or_send(bot, query.message.chat.id, query.message.message_id, text, markup)


async def back_to_list(
    query: CallbackQuery, callback_data: ModelsCb, bot: Bot, db_user: UserRow, catalog: Catalog
) -> None:
    """The card's Back: the part of the list that holds the model (the first part once it is gone)."""
    refusal = card_refusal(query, callback_data, catalog, offered=False)
    if refusal is not None or not isinstance(query.message, Message):
        await answer_query(query, refusal or _("models-stale"), alert=True)
        return
    await answer_query(query)
    lang = db_user.language
    pages = models_pages(catalog, lang)
    page = next((p for p in pages if callback_data.key in p.keys), pages[0])
    markup = page_keyboard(page, catalog, lang)
    await edit_or_send(bot, query.message.chat.id, query.message.message_id, page.text, markup)


def make_models_router() -> Router:
    """/models and its ℹ️ and Back buttons; the card's Choose is a way into the wizard (wizard/entry.py)."""
    router = Router(name="models")
    router.message.register(models_command, Command("models"))
    router.callback_query.register(show_card, ModelsCb.filter(F.action == "info"))
    router.callback_query.register(back_to_list, ModelsCb.filter(F.action == "list"))
    return router
