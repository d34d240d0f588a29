"""Telegram Stars: /buy (packs ▸ invoice), pre-checkout, successful_payment and /paysupport.

The money rules live in BillingService; this router only speaks Telegram:
* the invoice is XTR with exactly one price and no provider token (Telegram's rules for Stars);
* pre_checkout_query must be answered within 10 s, so the check gets a hard time budget;
* successful_payment credits exactly once per charge id (billing keys it UNIQUE), so a redelivered
  update changes nothing; the charge id is shown to the user because refunds need it.
"""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, LabeledPrice, Message, PreCheckoutQuery
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.config import Settings, StarPack
from bot.i18n import language_of, translate
from bot.services.accounts import AccountsService
from bot.services.billing import (
    STARS_CURRENCY,
    BillingService,
    PaymentResult,
    PreCheckoutError,
)
from bot.services.payment_recorder import PaymentRecorder
from bot.store.users import UserRow
from bot.telegram.balance import credits_text, date_text
from bot.telegram.common import MenuCb, escape, shorten

log = logging.getLogger(__name__)

# Telegram drops a pre-checkout answer after 10 s; keep well inside it (a busy database is the
# only slow thing on this path).
PRE_CHECKOUT_BUDGET_S = 5.0
# /paysupport lists the user's latest payments with their charge ids.
SUPPORT_PAYMENTS_SHOWN = 5
# A support request forwarded to admins is cut to this many characters.
SUPPORT_MESSAGE_MAX_CHARS = 1500


class PackCb(CallbackData, prefix="pack"):
    """A pack button. Both numbers are checked against the packs on sale when tapped."""

    stars: int
    credits: int


def packs_keyboard(packs: tuple[StarPack, ...]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for pack in packs:
        builder.button(
            text=_("buy-pack-button").format(stars=pack.stars, credits=credits_text(pack.credits)),
            callback_data=PackCb(stars=pack.stars, credits=pack.credits),
        )
    builder.adjust(1)
    return builder.as_markup()


def packs_text(balance: int) -> str:
    return _("buy-choose-pack").format(balance=credits_text(balance))


def pre_checkout_error_text(error: PreCheckoutError) -> str:
    """Shown by Telegram in the payment form, so short."""
    texts = {
        PreCheckoutError.UNKNOWN_PACK: _("precheckout-unknown_pack"),
        PreCheckoutError.WRONG_AMOUNT: _("precheckout-wrong_amount"),
        PreCheckoutError.WRONG_CURRENCY: _("precheckout-wrong_currency"),
        PreCheckoutError.UNKNOWN_USER: _("precheckout-unknown_user"),
    }
    return texts.get(error, _("precheckout-unknown_pack"))


async def show_packs(bot: Bot, chat_id: int, billing: BillingService, user_id: int) -> None:
    balance = await billing.balance(user_id)
    await bot.send_message(chat_id, packs_text(balance), reply_markup=packs_keyboard(billing.star_packs))


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


def make_payments_router() -> Router:
    router = Router(name="payments")

    @router.message(Command("buy"))
    async def buy_command(message: Message, db_user: UserRow, billing: BillingService) -> None:
        balance = await billing.balance(db_user.id)
        await message.answer(packs_text(balance), reply_markup=packs_keyboard(billing.star_packs))

    @router.callback_query(MenuCb.filter(F.action == "buy"))
    async def buy_button(query: CallbackQuery, bot: Bot, db_user: UserRow, billing: BillingService) -> None:
        await query.answer()
        await show_packs(bot, query.from_user.id, billing, db_user.id)

    @router.callback_query(PackCb.filter())
    async def pack_chosen(
        query: CallbackQuery, callback_data: PackCb, bot: Bot, billing: BillingService
    ) -> None:
        pack = StarPack(callback_data.stars, callback_data.credits)
        if pack not in billing.star_packs:
            # An old keyboard after the operator changed STAR_PACKS, or forged callback data.
            await query.answer(_("buy-pack-not-on-sale"), show_alert=True)
            return
        await query.answer()
        title = _("buy-invoice-title").format(credits=credits_text(pack.credits))
        await bot.send_invoice(
            chat_id=query.from_user.id,
            title=shorten(title, 32),
            description=shorten(
                _("buy-invoice-description").format(credits=credits_text(pack.credits), stars=pack.stars), 255
            ),
            payload=billing.payload_for_pack(pack),
            currency=STARS_CURRENCY,
            # Stars: exactly one price, and no provider_token at all.
            prices=[LabeledPrice(label=shorten(title, 32), amount=pack.stars)],
        )

    @router.pre_checkout_query()
    async def pre_checkout(query: PreCheckoutQuery, billing: BillingService) -> None:
        try:
            async with asyncio.timeout(PRE_CHECKOUT_BUDGET_S):
                error = await billing.check_pre_checkout(
                    query.from_user.id, query.invoice_payload, query.currency, query.total_amount
                )
        except Exception:
            # Declining is safe (no money moves) and better than letting Telegram time out.
            log.exception("Pre-checkout check failed for user %s", query.from_user.id)
            await query.answer(ok=False, error_message=_("precheckout-try-again"))
            return
        if error is None:
            await query.answer(ok=True)
            return
        log.warning(
            "Pre-checkout declined for user %s: %s (payload %r, %s %s)",
            query.from_user.id,
            error,
            query.invoice_payload,
            query.total_amount,
            query.currency,
        )
        await query.answer(ok=False, error_message=pre_checkout_error_text(error))

    @router.message(F.successful_payment)
    async def successful_payment(message: Message, payment_recorder: PaymentRecorder) -> None:
        payment = message.successful_payment
        assert payment is not None  # the filter guarantees it
        user_id = message.from_user.id if message.from_user is not None else message.chat.id
        try:
            # Credited now, or kept in the payments journal if the database is busy: either way
            # recorded before this update is acknowledged.
            outcome = await payment_recorder.record(
                user_id,
                payment.telegram_payment_charge_id,
                payment.invoice_payload,
                payment.total_amount,
                payment.currency,
            )
        except Exception:
            # Neither the database nor the journal took it (e.g. a full disk). Telegram delivers
            # this update once: the log line and the charge id in the user's hands are what lets
            # an admin fix it by hand (/grant or /refund).
            log.exception(
                "Stars payment %s of user %s (payload %r, %s stars) NOT credited",
                payment.telegram_payment_charge_id,
                user_id,
                payment.invoice_payload,
                payment.total_amount,
            )
            await message.answer(
                _("payment-not-credited").format(charge_id=escape(payment.telegram_payment_charge_id))
            )
            return
        charge_id = escape(outcome.charge_id)
        if outcome.result is PaymentResult.CREDITED:
            log.info("Stars payment %s: user %s +%s credits", outcome.charge_id, user_id, outcome.credits)
            text = _("payment-credited").format(
                credits=credits_text(outcome.credits),
                balance=credits_text(outcome.balance),
                charge_id=charge_id,
            )
            if outcome.referral_bonus:
                bonus = credits_text(outcome.referral_bonus)
                text += "\n\n" + _("payment-referral-bonus").format(bonus=bonus)
        elif outcome.result is PaymentResult.JOURNALED:
            log.warning(
                "Stars payment %s of user %s journaled: the database is busy", outcome.charge_id, user_id
            )
            text = _("payment-received-pending").format(charge_id=charge_id)
        elif outcome.result is PaymentResult.DUPLICATE:
            # A redelivered update: nothing was credited now; say so briefly.
            text = _("payment-already-credited").format(
                balance=credits_text(outcome.balance), charge_id=charge_id
            )
        else:
            log.error(
                "Stars payment %s of user %s matches no pack sold (payload %r, %s %s): credited nothing",
                outcome.charge_id,
                user_id,
                payment.invoice_payload,
                payment.total_amount,
                payment.currency,
            )
            text = _("payment-unrecognized").format(stars=payment.total_amount, charge_id=charge_id)
        await message.answer(text)

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
