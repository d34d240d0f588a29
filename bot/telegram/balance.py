"""/balance and the main menu's "balance" button: the balance and the latest credit movements.

Also the small formatting helpers other routers (payments, admin) share: credit amounts with
plural forms, ledger reasons in the reader's language, dates.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import translate_plural
from bot.services.billing import BillingService, Movement, Reason
from bot.store.users import UserRow
from bot.telegram.common import MenuCb

# How many ledger rows /balance lists: enough to explain the last few days, short on a phone.
RECENT_MOVEMENTS = 10


def credits_text(count: int, language: str | None = None) -> str:
    """ "5 credits" / "5 кредитов" with the right plural form: the one way every amount of credits
    is written. In `language`, or (None) in the language of the update being handled."""
    if language is not None:
        return translate_plural("credits-count", abs(count), language)
    return ngettext("credits-count", "credits-count", abs(count)).format(count=abs(count))


def signed_credits_text(amount: int) -> str:
    """ "+50 credits" / "−3 кредита": a ledger amount with its sign."""
    sign = "+" if amount >= 0 else "−"
    return f"{sign}{credits_text(amount)}"


def reason_text(reason: str) -> str:
    """A ledger reason key (bot.store.ledger.Reason) in the reader's language."""
    # Explicit calls rather than an f-string key, so the locale test sees every key the code uses.
    texts: dict[str, str] = {
        Reason.SIGNUP_BONUS: _("reason-signup_bonus"),
        Reason.PURCHASE: _("reason-purchase"),
        Reason.GENERATION: _("reason-generation"),
        Reason.REFUND: _("reason-refund"),
        Reason.ADMIN_GRANT: _("reason-admin_grant"),
        Reason.STARS_REFUND: _("reason-stars_refund"),
        Reason.FREE_FIRST_VIDEO: _("reason-free_first_video"),
        Reason.REFERRAL_BONUS: _("reason-referral_bonus"),
    }
    return texts.get(reason, reason)


def date_text(timestamp: float) -> str:
    """A ledger or job time in UTC, in the reader's date format (e.g. 2026-07-14 13:05)."""
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime(_("date-format"))


def movement_line(movement: Movement) -> str:
    """One ledger row as the user sees it: when, how much, why."""
    reason = reason_text(movement.reason)
    if movement.job_id is not None:
        reason = f"{reason} #{movement.job_id}"
    return _("balance-movement-line").format(
        date=date_text(movement.created_at), amount=signed_credits_text(movement.amount), reason=reason
    )


def buy_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("menu-buy"), callback_data=MenuCb(action="buy"))
    return builder.as_markup()


async def balance_text(billing: BillingService, user_id: int) -> str:
    summary = await billing.user_summary(user_id, recent_limit=RECENT_MOVEMENTS)
    balance = summary.balance if summary is not None else 0
    lines = [_("balance-title").format(credits=credits_text(balance))]
    recent = summary.recent if summary is not None else []
    lines.append("")
    if recent:
        lines.append(_("balance-recent-title"))
        lines.extend(movement_line(movement) for movement in recent)
    else:
        lines.append(_("balance-no-movements"))
    return "\n".join(lines)


def make_balance_router() -> Router:
    router = Router(name="balance")

    @router.message(Command("balance"))
    async def balance_command(message: Message, db_user: UserRow, billing: BillingService) -> None:
        await message.answer(await balance_text(billing, db_user.id), reply_markup=buy_keyboard())

    @router.callback_query(MenuCb.filter(F.action == "balance"))
    async def balance_button(query: CallbackQuery, db_user: UserRow, billing: BillingService) -> None:
        await query.answer()
        text = await balance_text(billing, db_user.id)
        if query.bot is not None:
            await query.bot.send_message(query.from_user.id, text, reply_markup=buy_keyboard())

    return router
