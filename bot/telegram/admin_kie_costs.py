"""The KIE part of /stats: the operator's KIE balance and KIE's cost per model next to what users paid.

Kept apart from admin.py so /stats gains these lines through two calls. KIE credits are decimals
(kie-api-2026.md §1.2), shown exactly, never rounded to a whole number.
"""

from __future__ import annotations

from decimal import Decimal

from aiogram.utils.i18n import gettext as _

from bot.store.jobs import ModelKieCost
from bot.telegram.balance import credits_text
from bot.telegram.common import escape


def kie_credits_text(value: Decimal) -> str:
    """5916.25 → "5916.25", 30.0 → "30", 1E+3 → "1000": plain notation, no trailing zeros."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def kie_balance_lines(balance: Decimal | None, warning_level: Decimal) -> list[str]:
    if balance is None:
        return [_("admin-stats-kie-unreachable")]
    lines = [_("admin-stats-kie").format(credits=kie_credits_text(balance))]
    if balance < warning_level:
        lines.append(_("admin-stats-kie-low").format(threshold=kie_credits_text(warning_level)))
    return lines


def kie_cost_lines(costs: list[ModelKieCost]) -> list[str]:
    """Per model: jobs, KIE credits KIE reported (creditsConsumed) and the user credits we kept."""
    if not costs:
        return []
    lines = [_("admin-stats-kie-costs-title")]
    for cost in costs:
        lines.append(
            _("admin-stats-kie-cost-line").format(
                model=escape(cost.model_key),
                jobs=cost.jobs,
                kie=kie_credits_text(cost.kie_credits),
                charged=credits_text(cost.charged),
            )
        )
    return lines
