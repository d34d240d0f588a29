"""/stats: whole-bot money, jobs by state, and the operator's KIE balance."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.services.admin_reports import AdminReports
from bot.telegram.admin.user import job_state_text
from bot.telegram.balance import credits_text, signed_credits_text


def make_stats_router() -> Router:
    router = Router(name="admin-stats")

    @router.message(Command("stats"))
    async def stats(message: Message, admin_reports: AdminReports, settings: Settings) -> None:
        report = await admin_reports.stats()
        figures = report.billing
        totals = figures.totals
        lines = [
            _("admin-stats-title"),
            _("admin-stats-money").format(
                users=totals.users,
                balances=credits_text(totals.balances),
                stars=totals.stars_received,
                sold=credits_text(totals.credits_sold),
                stars_refunded=totals.stars_refunded,
                spent=credits_text(totals.credits_spent),
                held=credits_text(totals.credits_held),
                refunded=credits_text(totals.credits_refunded),
                granted=credits_text(totals.credits_granted)
                if totals.credits_granted >= 0
                else signed_credits_text(totals.credits_granted),
                bonuses=credits_text(totals.signup_bonuses),
            ),
            "",
            _("admin-stats-jobs-title"),
        ]
        if not figures.jobs_by_state:
            lines.append(_("admin-none"))
        for state, count in sorted(figures.jobs_by_state.items()):
            lines.append(_("admin-stats-job-line").format(state=job_state_text(state), count=count))
        lines.append("")
        balance = report.kie_balance
        if balance is None:
            lines.append(_("admin-stats-kie-unreachable"))
        else:
            lines.append(_("admin-stats-kie").format(credits=balance))
            if balance < settings.kie_low_balance_warning:
                lines.append(_("admin-stats-kie-low").format(threshold=settings.kie_low_balance_warning))
        await message.answer("\n".join(lines))

    return router
