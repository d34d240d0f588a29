"""/user <user_id>: the user's money, latest ledger rows and jobs."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.services.admin_reports import AdminReports
from bot.store.jobs import Job, JobState
from bot.store.ledger import Movement
from bot.store.users import UserRow
from bot.telegram.admin.args import parse_user_id
from bot.telegram.balance import credits_text, date_text, reason_text, signed_credits_text
from bot.telegram.common import escape, shorten

USER_RECENT_MOVEMENTS = 10
USER_RECENT_JOBS = 8
NOTE_SHOWN_CHARS = 60


def job_state_text(state: str) -> str:
    texts: dict[str, str] = {
        JobState.CREATED: _("admin-job-state-created"),
        JobState.SUBMITTED: _("admin-job-state-submitted"),
        JobState.RUNNING: _("admin-job-state-running"),
        JobState.SUCCEEDED: _("admin-job-state-succeeded"),
        JobState.FAILED: _("admin-job-state-failed"),
        JobState.TIMED_OUT: _("admin-job-state-timed_out"),
        JobState.DELIVERED: _("admin-job-state-delivered"),
        JobState.UNDELIVERABLE: _("admin-job-state-undeliverable"),
    }
    return texts.get(state, state)


def job_line(job: Job) -> str:
    return _("admin-user-job-line").format(
        id=job.id,
        date=date_text(job.created_at),
        model=escape(job.model_key),
        state=job_state_text(job.state),
        cost=credits_text(job.cost),
    )


def user_heading(user_id: int, user: UserRow | None) -> str:
    if user is None:
        return _("admin-user-heading").format(user_id=user_id, name="?", username="", language="?")
    return _("admin-user-heading").format(
        user_id=user_id,
        name=escape(user.first_name or "—"),
        username=f" @{escape(user.username)}" if user.username else "",
        language=user.language,
    )


def ledger_line(movement: Movement) -> str:
    details = [reason_text(movement.reason)]
    if movement.job_id is not None:
        details.append(f"#{movement.job_id}")
    if movement.charge_id:
        details.append(f"<code>{escape(movement.charge_id)}</code>")
    if movement.actor != "system":
        details.append(escape(movement.actor))
    if movement.note:
        details.append(f"«{escape(shorten(movement.note, NOTE_SHOWN_CHARS))}»")
    return _("admin-user-ledger-line").format(
        date=date_text(movement.created_at),
        amount=signed_credits_text(movement.amount),
        balance=movement.balance_after,
        details=" · ".join(details),
    )


def make_user_router() -> Router:
    router = Router(name="admin-user")

    @router.message(Command("user"))
    async def user_info(message: Message, command: CommandObject, admin_reports: AdminReports) -> None:
        user_id = parse_user_id(command.args)
        if user_id is None:
            await message.answer(_("admin-user-usage"))
            return
        report = await admin_reports.user(user_id, movements=USER_RECENT_MOVEMENTS, jobs=USER_RECENT_JOBS)
        if report is None:
            await message.answer(_("admin-unknown-user").format(user_id=user_id))
            return
        summary = report.summary
        lines = [
            user_heading(user_id, report.user),
            _("admin-user-money").format(
                balance=credits_text(summary.balance),
                ledger_sum=credits_text(summary.ledger_sum),
                stars=summary.stars_paid,
                payments=summary.payments,
                purchased=credits_text(summary.credits_purchased),
                spent=credits_text(summary.credits_spent),
                held=credits_text(summary.credits_held),
                refunded=credits_text(summary.credits_refunded),
            ),
        ]
        if summary.ledger_sum != summary.balance:
            lines.append(_("admin-user-ledger-mismatch"))
        lines.append("")
        lines.append(_("admin-user-ledger-title"))
        if not summary.recent:
            lines.append(_("admin-none"))
        lines.extend(ledger_line(movement) for movement in summary.recent)
        lines.append("")
        lines.append(_("admin-user-jobs-title"))
        if not report.recent_jobs:
            lines.append(_("admin-none"))
        lines.extend(job_line(job) for job in report.recent_jobs)
        await message.answer("\n".join(lines))

    return router
