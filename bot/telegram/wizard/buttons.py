"""The wizard message's buttons, one handler per move. LiveDraft (session.py) has already refused
buttons of another draft or message and buttons for a step the draft is not at."""

from __future__ import annotations

import contextlib

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.catalog.model import Catalog, InvalidOrder
from bot.services.accounts import AccountsService
from bot.services.billing import InsufficientCredits
from bot.services.generation import GenerationService, InputFileRef, TooManyJobs
from bot.store.users import UserRow
from bot.telegram.balance import credits_text
from bot.telegram.common import escape
from bot.telegram.replies import answer_query
from bot.telegram.wizard.draft import CHOICE_STEPS, Action, Draft, Step
from bot.telegram.wizard.flow import WizardScreen
from bot.telegram.wizard.model_info import model_info
from bot.telegram.wizard.session import WizardSession
from bot.telegram.wizard.view import WizardCallback, decode_field, decode_ratio, reason_text


def wizard_message(query: CallbackQuery) -> Message:
    """The message the button is on; LiveDraft lets through only taps on the live wizard message."""
    assert isinstance(query.message, Message)
    return query.message


async def choose(
    query: CallbackQuery,
    callback_data: WizardCallback,
    draft: Draft,
    step: Step,
    screen: WizardScreen,
    accounts: AccountsService,
) -> None:
    """A category, model, mode, ratio or option value: one of the values the step offers."""
    action, value = Action.from_code(callback_data.action), callback_data.value
    if action is Action.OPTION:
        key, _sep, value = value.partition("=")
        if key != step.option or value not in step.values:
            await answer_query(query, _("wizard-not-available"), alert=True)
            return
        draft.add(f"opt:{key}", value)
    else:
        if action is Action.RATIO:
            value = decode_ratio(value)
        if value not in step.values:
            await answer_query(query, _("wizard-not-available"), alert=True)
            return
        draft.add(step.name.value, value)
    await answer_query(query)
    message = wizard_message(query)
    await screen.show(message.chat.id, draft, edit=message.message_id)
    if action is Action.RATIO and value != screen.user.default_ratio:
        # Remembered after the answer: the tap should not wait for a database write.
        await accounts.set_default_ratio(screen.user.id, value)


async def skip_prompt(query: CallbackQuery, draft: Draft, step: Step, screen: WizardScreen) -> None:
    if step.prompt_rule is None or step.prompt_rule.required:
        await answer_query(query, _("stale-button"), alert=True)  # no Skip button was shown
        return
    draft.end_edit()
    draft.add("prompt", "")
    await answer_query(query)
    message = wizard_message(query)
    await screen.show(message.chat.id, draft, edit=message.message_id)


async def edit_field(
    query: CallbackQuery, callback_data: WizardCallback, draft: Draft, screen: WizardScreen
) -> None:
    """A summary's ✏️ button: ask that one field again; the other answers stay."""
    if not draft.start_edit(decode_field(callback_data.value)):
        await answer_query(query, _("wizard-not-available"), alert=True)
        return
    await answer_query(query)
    message = wizard_message(query)
    await screen.show(message.chat.id, draft, edit=message.message_id)


async def back(query: CallbackQuery, draft: Draft, screen: WizardScreen) -> None:
    draft.back()
    await answer_query(query)
    message = wizard_message(query)
    await screen.show(message.chat.id, draft, edit=message.message_id)


async def cancel(query: CallbackQuery, session: WizardSession) -> None:
    await session.reset()
    await answer_query(query)
    with contextlib.suppress(TelegramBadRequest):
        await wizard_message(query).edit_text(_("wizard-cancelled"))


async def confirm(
    query: CallbackQuery,
    draft: Draft,
    session: WizardSession,
    screen: WizardScreen,
    db_user: UserRow,
    generation: GenerationService,
    catalog: Catalog,
) -> None:
    """Reserve the credits and record the job; the wizard message becomes the job's status."""
    message = wizard_message(query)
    try:
        confirmed = await generation.confirm(
            user_id=db_user.id,
            chat_id=message.chat.id,
            draft_key=f"{db_user.id}:{draft.id}",
            order=draft.order(),
            files=[InputFileRef.from_dict(f) for f in draft.files],
            status_message_id=message.message_id,
        )
    except InsufficientCredits as exc:
        # The summary again, now with the balance that fell short: Buy, and the order kept.
        text = _("wizard-not-enough-credits").format(balance=exc.balance, price=exc.needed)
        await answer_query(query, text, alert=True)
        await screen.show(message.chat.id, draft, edit=message.message_id)
        return
    except TooManyJobs as exc:
        await answer_query(query, _("wizard-too-many-jobs").format(limit=exc.limit), alert=True)
        return
    except InvalidOrder as exc:
        await answer_query(query, reason_text(exc), alert=True)
        return
    await session.reset(confirmed=draft.id)
    if not confirmed.created:
        await answer_query(query, _("wizard-already-confirmed"))
        return
    await answer_query(query, _("wizard-confirmed"))
    with contextlib.suppress(TelegramBadRequest):
        entry = catalog.get(confirmed.job.model_key)
        name = entry.name(db_user.language) if entry else confirmed.job.model_key
        text = _("job-status-preparing-full").format(name=escape(name), cost=credits_text(confirmed.job.cost))
        await message.edit_text(text)
    generation.start_submission(confirmed.job)


async def not_available(query: CallbackQuery) -> None:
    """A code no wizard button carries (a forged or garbled callback)."""
    await answer_query(query, _("wizard-not-available"), alert=True)


def make_buttons_router() -> Router:
    router = Router(name="wizard-buttons")
    on = router.callback_query.register
    on(choose, WizardCallback.filter(F.action.in_({step.code for step in CHOICE_STEPS})))
    on(skip_prompt, WizardCallback.filter(F.action == Action.PROMPT.code))
    on(confirm, WizardCallback.filter(F.action == Action.SUMMARY.code))
    on(edit_field, WizardCallback.filter(F.action == Action.EDIT.code))
    on(back, WizardCallback.filter(F.action == Action.BACK.code))
    on(cancel, WizardCallback.filter(F.action == Action.CANCEL.code))
    on(model_info, WizardCallback.filter(F.action == Action.INFO.code))
    on(not_available, WizardCallback.filter())
    return router
