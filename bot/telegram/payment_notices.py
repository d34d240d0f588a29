"""Telling users about their payments outside the update that carried them: the PaymentNotices
port of bot/services/ports.py."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError

from bot.i18n import language_of, translate
from bot.services.billing import PaymentOutcome, PaymentResult
from bot.store.payments_journal import JournaledPayment
from bot.store.users import UsersRepo
from bot.telegram.balance import credits_text
from bot.text import escape

log = logging.getLogger(__name__)


class TelegramPaymentNotices:
    """The PaymentNotices port (bot/services/ports.py): tells users about their payments by message."""

    def __init__(self, bot: Bot, users: UsersRepo) -> None:
        self.bot = bot
        self.users = users

    async def journaled_payment_applied(self, entry: JournaledPayment, outcome: PaymentOutcome) -> None:
        """The confirmation for a payment that waited in the journal, now credited (or found unsold)."""
        user = await self.users.get(entry.user_id)
        language = language_of(user)
        if outcome.result is PaymentResult.UNRECOGNIZED:
            charge_id = escape(outcome.charge_id)
            text = translate("payment-unrecognized", language, stars=entry.total_amount, charge_id=charge_id)
        else:
            text = receipt_text(outcome, entry.total_amount, language)
        try:
            await self.bot.send_message(entry.user_id, text)
        except TelegramAPIError as exc:
            log.warning("Confirmation of journaled payment %s not delivered: %s", outcome.charge_id, exc)


def receipt_text(outcome: PaymentOutcome, stars: int, language: str) -> str:
    """The confirmation of a credited payment: what was bought, the credits and the balance first
    (and an invite bonus it brought); the charge id last and small, as it is only for /paysupport."""
    parts = [
        translate(
            "payment-credited",
            language,
            stars=stars,
            credits=credits_text(outcome.credits, language),
            balance=credits_text(outcome.balance, language),
        )
    ]
    if outcome.referral_bonus:
        bonus = credits_text(outcome.referral_bonus, language)
        parts.append(translate("payment-referral-bonus", language, bonus=bonus))
    parts.append(charge_id_line(outcome.charge_id, language))
    return "\n\n".join(parts)


def pending_receipt_text(charge_id: str, stars: int, language: str) -> str:
    """A payment kept in the journal (the database was busy): received, credits follow."""
    received = translate("payment-received-pending", language, stars=stars)
    return f"{received}\n\n{charge_id_line(charge_id, language)}"


def charge_id_line(charge_id: str, language: str) -> str:
    return translate("payment-charge-id", language, charge_id=escape(charge_id))
