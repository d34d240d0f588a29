"""/paysupport: the user's latest payments with their charge ids, or a request forwarded to the admins.

Telegram requires bots that sell with Stars to answer /paysupport.
"""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.i18n import language_of, translate
from bot.services.accounts import AccountsService
from bot.services.billing import BillingService
from bot.store.users import UserRow
from bot.telegram.balance import credits_text, date_text
from bot.telegram.common import escape, shorten

log = logging.getLogger(__name__)

# /paysupport lists the user's latest payments with their charge ids.
SUPPORT_PAYMENTS_SHOWN = 5
# A support request forwarded to admins is cut to this many characters.
SUPPORT_MESSAGE_MAX_CHARS = 1500


async def forward_to_admins(
    bot: Bot, settings: Settings, accounts: AccountsService, user: UserRow, text: str
) -> int:
    """Send a support request to every admin in the admin's own language; returns how many got it."""
    name = escape(user.first_name or str(user.id))
    username = f" @{escape(user.username)}" if user.username else ""
    delivered = 0
    for admin_id in sorted(settings.admin_ids):
        admin = await accounts.get(admin_id)
        language = language_of(admin)
        body = translate(
            "paysupport-admin-request",
            language,
            user_id=user.id,
            name=name,
            username=username,
            text=escape(shorten(text, SUPPORT_MESSAGE_MAX_CHARS)),
        )
        try:
            await bot.send_message(admin_id, body)
        except TelegramAPIError as exc:
            # An admin who never opened the bot (or blocked it) cannot be messaged; try the others.
            log.warning("Support request of %s not delivered to admin %s: %s", user.id, admin_id, exc)
            continue
        delivered += 1
    return delivered


def make_paysupport_router() -> Router:
    router = Router(name="paysupport")

    @router.message(Command("paysupport"))
    async def paysupport(
        message: Message,
        command: CommandObject,
        bot: Bot,
        db_user: UserRow,
        billing: BillingService,
        settings: Settings,
        accounts: AccountsService,
    ) -> None:
        request = (command.args or "").strip()
        if request:
            if not settings.admin_ids:
                await message.answer(_("paysupport-no-admins"))
                return
            delivered = await forward_to_admins(bot, settings, accounts, db_user, request)
            await message.answer(_("paysupport-sent") if delivered else _("paysupport-not-delivered"))
            return
        lines = [_("paysupport-text")]
        payments = await billing.payments_of(db_user.id, limit=SUPPORT_PAYMENTS_SHOWN)
        if payments:
            lines.append("")
            lines.append(_("paysupport-your-payments"))
            for payment in payments:
                status = (
                    _("paysupport-payment-refunded") if payment.refunded else _("paysupport-payment-paid")
                )
                lines.append(
                    _("paysupport-payment-line").format(
                        date=date_text(payment.created_at),
                        stars=payment.stars,
                        credits=credits_text(payment.credits),
                        status=status,
                        charge_id=escape(payment.charge_id),
                    )
                )
        else:
            lines.append("")
            lines.append(_("paysupport-no-payments"))
        await message.answer("\n".join(lines))

    return router
