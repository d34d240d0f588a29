"""Telling users about their payments outside the update that carried them: the PaymentNotices
port of bot/services/ports.py."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError

from bot.i18n import language_of, translate, translate_plural
from bot.services.billing import PaymentOutcome, PaymentResult
from bot.store.payments_journal import JournaledPayment
from bot.store.users import UsersRepo
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
        charge_id = escape(outcome.charge_id)
        if outcome.result is PaymentResult.UNRECOGNIZED:
            text = translate("payment-unrecognized", language, stars=entry.total_amount, charge_id=charge_id)
        else:
            text = translate(
                "payment-credited",
                language,
                credits=translate_plural("credits-count", outcome.credits, language),
                balance=translate_plural("credits-count", outcome.balance, language),
                charge_id=charge_id,
            )
        try:
            await self.bot.send_message(entry.user_id, text)
        except TelegramAPIError as exc:
            log.warning("Confirmation of journaled payment %s not delivered: %s", outcome.charge_id, exc)
