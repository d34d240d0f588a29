"""/stats: whole-bot money, jobs by state, the operator's KIE balance and KIE's cost per model, and
how the catalog fared against KIE's model list."""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.services.admin_reports import AdminReports
from bot.services.catalog_sync import CatalogCheckSummary, CatalogSync
from bot.store.users import UserRow
from bot.telegram.admin.user import job_state_text
from bot.telegram.admin_kie_costs import kie_balance_lines, kie_cost_lines
from bot.telegram.balance import credits_text, signed_credits_text
from bot.telegram.common import escape


def catalog_check_line(summary: CatalogCheckSummary, language: str) -> str:
    """One line: how our catalog fared against KIE's model list (services/catalog_sync.py)."""
    if summary.checked_at is None:
        key = "admin-stats-models-unreadable" if summary.problem else "admin-stats-models-not-checked"
        return _(key).format(problem=summary.problem or "")
    names = ", ".join(escape(e.name(language)) for e in summary.hidden) or _("admin-none")
    line = _("admin-stats-models").format(
        listed=summary.listed,
        total=summary.kie_total,
        hidden=len(summary.hidden),
        names=names,
        checked=datetime.fromtimestamp(summary.checked_at, UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    if summary.problem:
        line += " " + _("admin-stats-models-stale").format(problem=summary.problem)
    return line


def make_stats_router() -> Router:
    router = Router(name="admin-stats")

    @router.message(Command("stats"))
    async def stats(
        message: Message,
        admin_reports: AdminReports,
        settings: Settings,
        catalog_sync: CatalogSync,
        db_user: UserRow,
    ) -> None:
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
        lines.extend(kie_balance_lines(report.kie_balance, settings.kie_low_balance_warning))
        cost_lines = kie_cost_lines(report.kie_costs)
        if cost_lines:
            lines.extend(["", *cost_lines])
        lines.append(catalog_check_line(catalog_sync.summary(), db_user.language))
        await message.answer("\n".join(lines))

    return router
