"""Ways into and out of the wizard: /generate, the menu's Generate button, a /models card's Choose,
/cancel."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.telegram.common import MenuCb
from bot.telegram.lean_answers import edit_text
from bot.telegram.models import ModelsCb, card_refusal
from bot.telegram.replies import answer_query
from bot.telegram.wizard.draft import ALL_MODELS, Draft, new_draft_id
from bot.telegram.wizard.flow import WizardScreen
from bot.telegram.wizard.session import WizardSession


async def generate_command(message: Message, screen: WizardScreen) -> None:
    await screen.start(message.chat.id)


async def generate_button(query: CallbackQuery, screen: WizardScreen) -> None:
    await answer_query(query)
    if isinstance(query.message, Message):
        await screen.start(query.message.chat.id)


async def order_from_card(query: CallbackQuery, callback_data: ModelsCb, screen: WizardScreen) -> None:
    """Choose on a /models card: a new order with that model chosen, as if picked from the list of
    all models (Back there shows that list); mode, ratio and options are preset as usual."""
    refusal = card_refusal(query, callback_data, screen.catalog)
    if refusal is not None or not isinstance(query.message, Message):
        await answer_query(query, refusal or _("models-stale"), alert=True)
        return
    await answer_query(query)
    draft = Draft(id=new_draft_id())
    draft.add("category", ALL_MODELS)
    draft.add("model", callback_data.key)
    await screen.start(query.message.chat.id, draft)


async def back_to_order_button(query: CallbackQuery, screen: WizardScreen) -> None:
    """"Back to my order" under a payment confirmation: the open order, at the bottom of the chat."""
    if not isinstance(query.message, Message):
        await answer_query(query)
        return
    if not await screen.resume(query.message.chat.id):
        await answer_query(query, _("wizard-no-open-order"), alert=True)
        return
    await answer_query(query)


async def cancel_command(message: Message, bot: Bot, session: WizardSession) -> None:
    """One answer: the wizard message says the order was cancelled; a plain reply only when there was
    no wizard message to say it (nothing open, or a message too old to edit)."""
    draft = await session.load()
    await session.reset()
    if draft is not None and draft.message_id is not None:
        try:
            await edit_text(
                bot, chat_id=message.chat.id, message_id=draft.message_id, text=_("wizard-cancelled")
            )
            return
        except TelegramBadRequest:
            pass  # gone or too old: say it below
    await message.answer(_("cancelled"))


def make_entry_router() -> Router:
    router = Router(name="wizard-entry")
    router.message.register(generate_command, Command("generate"))
    router.callback_query.register(generate_button, MenuCb.filter(F.action == "generate"))
    router.callback_query.register(back_to_order_button, MenuCb.filter(F.action == "order"))
    router.callback_query.register(order_from_card, ModelsCb.filter(F.action == "order"))
    router.message.register(cancel_command, Command("cancel"))
    return router
