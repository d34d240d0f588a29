"""The model step's ℹ️ button: a model's full card (model_cards.py) in the wizard message, with
Choose and Back to the list. The card is a view of the model step: the draft does not change, so
Back shows the same list and Choose is the model step's own button."""

from __future__ import annotations

from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.catalog.model import Catalog
from bot.store.users import UserRow
from bot.telegram.model_cards import full_card
from bot.telegram.replies import answer_query, edit_or_send, remove_keyboard
from bot.telegram.wizard.draft import Action, Draft, Step
from bot.telegram.wizard.flow import WizardScreen
from bot.telegram.wizard.view import WizardCallback, wizard_button


def render_card(draft: Draft, key: str, user: UserRow, catalog: Catalog) -> tuple[str, InlineKeyboardMarkup]:
    entry = catalog.get(key)
    assert entry is not None, "the step offered a model the catalog does not have"
    name = entry.name(user.language)
    choose = wizard_button(_("card-choose").format(name=name), draft.id, Action.MODEL, key)
    back = wizard_button(_("card-back"), draft.id, Action.INFO)
    cancel = wizard_button(_("wizard-cancel"), draft.id, Action.CANCEL)
    markup = InlineKeyboardMarkup(inline_keyboard=[[choose], [back, cancel]])
    return full_card(catalog, entry, user.language), markup


async def model_info(
    query: CallbackQuery, callback_data: WizardCallback, draft: Draft, step: Step, screen: WizardScreen
) -> None:
    """ℹ️ (a model key): its full card; the card's Back (no key): the model list again.
    LiveDraft has refused taps on another message, another draft, or a draft past the model step."""
    key = callback_data.value
    if key and key not in step.values:  # a model this list does not offer (forged, or hidden since)
        await answer_query(query, _("wizard-not-available"), alert=True)
        return
    await answer_query(query)
    assert isinstance(query.message, Message)
    chat_id, message_id = query.message.chat.id, query.message.message_id
    if not key:
        await screen.show(chat_id, draft, edit=message_id)
        return
    text, markup = render_card(draft, key, screen.user, screen.catalog)
    shown = await edit_or_send(screen.bot, chat_id, message_id, text, markup)
    if shown != draft.message_id:  # the message could not be edited: the card is the live message now
        old, draft.message_id = draft.message_id, shown
        await screen.session.save(draft)
        await remove_keyboard(screen.bot, chat_id, old)
