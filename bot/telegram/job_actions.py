"""What a finished or failed job offers next: the buttons under the delivered video (Again, Change
prompt, New video) and under a failure (Try again, Other model), and what their taps do.

Again and Try again open a new confirm with the job's settings, as /history's Repeat does; Change
prompt opens the same order with everything kept but the prompt and asks for a new one; Other model
opens the wizard at the model list.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.catalog.model import Catalog
from bot.i18n import translate
from bot.services.billing import BillingService
from bot.services.job_history import JobHistory
from bot.store.jobs import Job
from bot.store.users import UserRow
from bot.telegram.common import MenuCb
from bot.telegram.replies import answer_query, remove_keyboard
from bot.telegram.wizard.draft import ALL_MODELS, Draft, new_draft_id
from bot.telegram.wizard.flow import WizardScreen
from bot.telegram.wizard.session import WizardSession
from bot.telegram.wizard.view import render_summary


class JobActionCb(CallbackData, prefix="ja"):
    a: str  # again | prompt | model
    j: int  # job id


def _button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)


def job_action_data(action: str, job_id: int) -> str:
    """`JobActionCb(a=action, j=job_id).pack()` without building and validating the model, which every
    video of a burst of finished jobs would pay on the event loop (the actions are fixed words)."""
    separator = JobActionCb.__separator__
    return f"{JobActionCb.__prefix__}{separator}{action}{separator}{job_id}"


NEW_VIDEO_DATA = MenuCb(action="generate").pack()


# Built directly, not with InlineKeyboardBuilder: the builder deep-copies every button (about 2 ms
# per keyboard, paid by each video of a burst of finished jobs on the event loop); same markup.
def after_delivery_keyboard(job: Job, lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(translate("job-action-again", lang), job_action_data("again", job.id)),
                _button(translate("job-action-prompt", lang), job_action_data("prompt", job.id)),
            ],
            [_button(translate("job-action-new", lang), NEW_VIDEO_DATA)],
        ]
    )


def after_failure_keyboard(job: Job, lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(translate("job-action-retry", lang), job_action_data("again", job.id)),
                _button(translate("job-action-model", lang), job_action_data("model", job.id)),
            ]
        ]
    )


def draft_from_job(job: Job, *, with_prompt: bool = True) -> Draft:
    """The same settings as a past job (without its prompt: the wizard asks for a new one)."""
    draft = Draft(id=new_draft_id())
    draft.add("category", ALL_MODELS)
    draft.add("model", job.model_key)
    draft.add("mode", job.mode)
    if job.ratio:
        draft.add("ratio", job.ratio)
    for key, value in job.options.items():
        draft.add(f"opt:{key}", value)
    for ref in job.inputs.get("files", []):
        draft.add(f"input:{ref['kind']}", ref)
    if with_prompt:
        draft.add("prompt", job.prompt)
    return draft


async def model_refusal(job: Job, catalog: Catalog) -> str | None:
    """Why the job's model cannot be ordered again (None: it can)."""
    entry = catalog.get(job.model_key)
    if entry is None:
        return _("order-unknown_model")
    if entry.retired is not None:
        # An old button of a model KIE no longer serves: say so, order nothing.
        return _("order-model_retired").format(date=entry.retired.on.isoformat())
    return None


async def offer_again(message: Message, job: Job, screen: WizardScreen) -> None:
    """A new summary and confirm with the job's settings; it replaces any open draft."""
    user, catalog, session = screen.user, screen.catalog, screen.session
    draft = draft_from_job(job)
    draft.defaults = await screen.defaults()  # for a field changed from this summary
    balance = await screen.billing.balance(user.id)
    text, markup = render_summary(draft, user, balance, catalog)
    old = await session.load()
    sent = await message.answer(text, reply_markup=markup)
    draft.message_id = sent.message_id
    await session.begin(draft)
    if old is not None and message.bot is not None:
        await remove_keyboard(message.bot, message.chat.id, old.message_id)


def make_job_actions_router(catalog: Catalog) -> Router:
    router = Router(name="job-actions")

    @router.callback_query(JobActionCb.filter(F.a.in_({"again", "prompt", "model"})))
    async def job_action(
        query: CallbackQuery,
        callback_data: JobActionCb,
        db_user: UserRow,
        job_history: JobHistory,
        billing: BillingService,
        state: FSMContext,
    ) -> None:
        # Someone else's job id (a forged or shared button) looks exactly like a missing one.
        job = await job_history.own_job(db_user.id, callback_data.j)
        if job is None or not isinstance(query.message, Message):
            await answer_query(query, _("stale-button"), alert=True)
            return
        message = query.message
        session = WizardSession(state)
        screen = WizardScreen(
            message.bot, session, db_user, billing, catalog, job_history  # type: ignore[arg-type]
        )
        if callback_data.a == "again":
            refusal = await model_refusal(job, catalog)
            if refusal is not None:
                await answer_query(query, refusal, alert=True)
                return
            await answer_query(query)
            await offer_again(message, job, screen)
            return
        await answer_query(query)
        if callback_data.a == "prompt" and await model_refusal(job, catalog) is None:
            # Everything kept but the prompt: the wizard's next step asks for it.
            await screen.start(message.chat.id, draft_from_job(job, with_prompt=False))
            return
        # Other model (or a retired one): the model list of every category.
        draft = Draft(id=new_draft_id())
        draft.add("category", ALL_MODELS)
        await screen.start(message.chat.id, draft)

    return router
