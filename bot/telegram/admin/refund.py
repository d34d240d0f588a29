"""/refund <charge_id>: refund a Stars payment (Telegram first) and take its credits back."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.i18n import language_of, translate
from bot.services.accounts import AccountsService
from bot.services.billing import BillingService, RefundOutcome, RefundRefusal, RefundResult
from bot.telegram.admin.args import parse_charge_id
from bot.telegram.balance import credits_text
from bot.telegram.common import escape

log = logging.getLogger(__name__)


def refund_refusal_text(
    refusal: RefundRefusal, charge_id: str, credits: int | None, balance: int | None
) -> str:
    if refusal is RefundRefusal.ALREADY_REFUNDED:
        return _("admin-refund-already").format(charge_id=escape(charge_id))
    if refusal is RefundRefusal.CREDITS_SPENT:
        return _("admin-refund-credits-spent").format(
            charge_id=escape(charge_id),
            credits=credits_text(credits or 0),
            balance=credits_text(balance or 0),
        )
    return _("admin-refund-unknown").format(charge_id=escape(charge_id))


def refund_done_text(outcome: RefundOutcome) -> str:
    if outcome.result is RefundResult.ALREADY_REFUNDED:
        return _("admin-refund-already").format(charge_id=escape(outcome.charge_id))
    if outcome.result is RefundResult.UNKNOWN_PAYMENT:
        return _("admin-refund-unknown").format(charge_id=escape(outcome.charge_id))
    lines = [
        _("admin-refund-done").format(
            charge_id=escape(outcome.charge_id),
            user_id=outcome.user_id,
            credits=credits_text(outcome.credits_taken),
            balance=credits_text(outcome.balance or 0),
        )
    ]
    if outcome.shortfall:
        lines.append(_("admin-refund-shortfall").format(credits=credits_text(outcome.shortfall)))
    return "\n".join(lines)


def make_refund_router() -> Router:
    router = Router(name="admin-refund")

    @router.message(Command("refund"))
    async def refund(
        message: Message,
        command: CommandObject,
        bot: Bot,
        billing: BillingService,
        accounts: AccountsService,
    ) -> None:
        charge_id = parse_charge_id(command.args)
        if charge_id is None:
            await message.answer(_("admin-refund-usage"))
            return
        admin_id = message.from_user.id if message.from_user else 0

        async def refund_stars(user_id: int, charge: str) -> None:
            try:
                await bot.refund_star_payment(user_id=user_id, telegram_payment_charge_id=charge)
            except TelegramBadRequest as exc:
                # Telegram sometimes answers this although the refund it refers to went through
                # (tdlib/td#3209); billing's contract counts it as refunded.
                if "CHARGE_ALREADY_REFUNDED" in exc.message:
                    log.warning("refundStarPayment %s: CHARGE_ALREADY_REFUNDED, treated as done", charge)
                    return
                raise

        try:
            result = await billing.refund_payment(charge_id, admin_id, refund_stars)
        except TelegramAPIError as exc:
            log.warning("Refund of %s by admin %s failed at Telegram: %s", charge_id, admin_id, exc)
            await message.answer(
                _("admin-refund-telegram-failed").format(
                    charge_id=escape(charge_id), error=escape(exc.message)
                )
            )
            return
        if isinstance(result, RefundRefusal):
            credits: int | None = None
            balance: int | None = None
            if result is RefundRefusal.CREDITS_SPENT:
                payment = await billing.payment(charge_id)
                credits = payment.credits if payment else None
                balance = await billing.balance(payment.user_id) if payment else None
            await message.answer(refund_refusal_text(result, charge_id, credits, balance))
            return
        log.info("Admin %s refunded %s: %s", admin_id, charge_id, result)
        await message.answer(refund_done_text(result))
        if result.result is RefundResult.REFUNDED and result.user_id is not None:
            await notify_refunded_user(bot, accounts, result)

    return router


async def notify_refunded_user(bot: Bot, accounts: AccountsService, outcome: RefundOutcome) -> None:
    """Tell the user, in their language, that the Stars came back and the credits went."""
    assert outcome.user_id is not None
    user = await accounts.get(outcome.user_id)
    language = language_of(user)
    text = translate(
        "refund-user-notice",
        language,
        charge_id=escape(outcome.charge_id),
        credits=credits_text(outcome.credits_taken, language),
    )
    # Best effort: the refund is done whether or not the user can be messaged.
    with contextlib.suppress(TelegramAPIError):
        await bot.send_message(outcome.user_id, text)
