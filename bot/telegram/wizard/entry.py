"""Ways into and out of the wizard: /generate, the menu's Generate button, /cancel."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.telegram.common import MenuCb
from bot.telegram.replies import answer_query
from bot.telegram.wizard.flow import WizardScreen
from bot.telegram.wizard.session import WizardSession


async def generate_command(message: Message, screen: WizardScreen) -> None:
    await screen.start(message.chat.id)


async def generate_button(query: CallbackQuery, screen: WizardScreen) -> None:
    await answer_query(query)
    if isinstance(query.message, Message):
        await screen.start(query.message.chat.id)


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
            await bot.edit_message_text(
                _("wizard-cancelled"), chat_id=message.chat.id, message_id=draft.message_id
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
    router.message.register(cancel_command, Command("cancel"))
    return router
