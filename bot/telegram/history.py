"""/history: the user's last jobs, with Send again (free: by file_id, or fetched from KIE again when it
never reached the chat) and Repeat (a new confirm)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.catalog.model import Catalog, mode_name
from bot.services.billing import BillingService
from bot.services.job_history import JobHistory
from bot.services.tracker import JobTracker
from bot.store.jobs import Job
from bot.store.users import UserRow
from bot.telegram.balance import credits_text, date_text
from bot.telegram.common import MenuCb, escape, shorten
from bot.telegram.job_actions import model_refusal, offer_again
from bot.telegram.wizard.flow import WizardScreen
from bot.telegram.wizard.session import WizardSession

HISTORY_SIZE = 10
PROMPT_CHARS = 80


class HistoryCb(CallbackData, prefix="h"):
    a: str  # send | repeat
    j: int  # job id


def _job_line(job: Job, catalog: Catalog, lang: str) -> str:
    entry = catalog.get(job.model_key)
    name = entry.name(lang) if entry else job.model_key
    head = _("history-line").format(
        id=job.id,
        name=escape(name),
        mode=escape(mode_name(job.mode, lang)),
        state=_(f"job-state-{job.state.value}"),
        cost=credits_text(job.cost),
        date=date_text(job.created_at),
    )
    prompt = f"\n<i>{escape(shorten(job.prompt, PROMPT_CHARS))}</i>" if job.prompt else ""
    return head + prompt


def make_history_router(catalog: Catalog) -> Router:
    router = Router(name="history")

    async def show_history(message: Message, user: UserRow, history: JobHistory) -> None:
        recent = await history.recent(user.id, HISTORY_SIZE)
        if not recent:
            await message.answer(_("history-empty"))
            return
        lines = [_("history-title"), ""]
        kb = InlineKeyboardBuilder()
        for job in recent:
            lines.append(_job_line(job, catalog, user.language))
            lines.append("")
            if job.file_id or job.can_be_fetched_again:
                kb.button(
                    text=_("history-send-again").format(id=job.id),
                    callback_data=HistoryCb(a="send", j=job.id),
                )
            if catalog.get_offerable(job.model_key) is not None:
                kb.button(
                    text=_("history-repeat").format(id=job.id), callback_data=HistoryCb(a="repeat", j=job.id)
                )
        kb.adjust(2)
        await message.answer("\n".join(lines).strip(), reply_markup=kb.as_markup())

    @router.message(Command("history"))
    async def history_command(message: Message, db_user: UserRow, job_history: JobHistory) -> None:
        await show_history(message, db_user, job_history)

    @router.callback_query(MenuCb.filter(F.action == "history"))
    async def history_button(query: CallbackQuery, db_user: UserRow, job_history: JobHistory) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            await show_history(query.message, db_user, job_history)

    @router.callback_query(HistoryCb.filter())
    async def history_action(
        query: CallbackQuery,
        callback_data: HistoryCb,
        db_user: UserRow,
        job_history: JobHistory,
        billing: BillingService,
        tracker: JobTracker,
        state: FSMContext,
    ) -> None:
        # Someone else's job id (a forged or shared button) looks exactly like a missing one.
        job = await job_history.own_job(db_user.id, callback_data.j)
        if job is None or not isinstance(query.message, Message):
            await query.answer(_("stale-button"), show_alert=True)
            return
        message = query.message
        if callback_data.a == "send":
            if not job.file_id and job.can_be_fetched_again:
                # Never reached the chat (the user had blocked the bot): fetch it from KIE again,
                # free; it arrives like the first delivery.
                if await tracker.send_again(job):
                    await query.answer(_("history-sending-again"))
                else:
                    await query.answer(_("stale-button"), show_alert=True)
                return
            if not job.file_id:
                await query.answer(_("history-no-file"), show_alert=True)
                return
            await query.answer()
            entry = catalog.get(job.model_key)
            caption = f"<b>{escape(entry.name(db_user.language) if entry else job.model_key)}</b>"
            try:
                await message.answer_video(job.file_id, caption=caption)
            except TelegramBadRequest:
                await message.answer(_("history-no-file"))
            return
        if callback_data.a == "repeat":
            refusal = await model_refusal(job, catalog)
            if refusal is not None:
                await query.answer(refusal, show_alert=True)
                return
            await query.answer()
            screen = WizardScreen(
                message.bot, WizardSession(state), db_user, billing, catalog, job_history  # type: ignore[arg-type]
            )
            await offer_again(message, job, screen)
            return
        await query.answer(_("stale-button"), show_alert=True)

    return router
