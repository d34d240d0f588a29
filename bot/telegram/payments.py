"""Telegram Stars: /buy (packs ▸ invoice), pre-checkout and successful_payment (/paysupport: paysupport.py).

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
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, LabeledPrice, Message, PreCheckoutQuery
from aiogram.utils.i18n import get_i18n, ngettext
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.catalog.model import Catalog
from bot.config import StarPack
from bot.services.billing import (
    STARS_CURRENCY,
    BillingService,
    PaymentResult,
    PreCheckoutError,
)
from bot.services.job_history import JobHistory
from bot.services.packs import PackOffer, pack_offers
from bot.services.payment_recorder import PaymentRecorder
from bot.store.users import UserRow
from bot.telegram.balance import credits_text
from bot.telegram.common import MenuCb, escape, shorten
from bot.telegram.payment_notices import pending_receipt_text, receipt_text
from bot.telegram.wizard.flow import WaitingOrder, WizardScreen, waiting_order
from bot.telegram.wizard.session import WizardSession

log = logging.getLogger(__name__)

# Telegram drops a pre-checkout answer after 10 s; keep well inside it (a busy database is the
# only slow thing on this path).
PRE_CHECKOUT_BUDGET_S = 5.0


class PackCb(CallbackData, prefix="pack"):
    """A pack button. Both numbers are checked against the packs on sale when tapped."""

    stars: int
    credits: int


def pack_label(offer: PackOffer) -> str:
    """A pack button: stars → credits, then what it buys of the waiting order and its bonus."""
    pack = offer.pack
    label = _("buy-pack-button").format(stars=pack.stars, credits=credits_text(pack.credits))
    if offer.videos is not None:
        videos = ngettext("buy-pack-videos", "buy-pack-videos", offer.videos)
        label += " · " + videos.format(count=offer.videos)
    if offer.bonus_percent > 0:
        label += " · " + _("buy-pack-bonus").format(percent=offer.bonus_percent)
    if offer.covers_order:
        label = _("buy-pack-covers").format(label=label)
    return label


def packs_keyboard(offers: list[PackOffer]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for offer in offers:
        builder.button(
            text=pack_label(offer), callback_data=PackCb(stars=offer.pack.stars, credits=offer.pack.credits)
        )
    builder.adjust(1)
    return builder.as_markup()


def back_to_order_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("payment-back-to-order"), callback_data=MenuCb(action="order"))
    return builder.as_markup()


def packs_text(balance: int, order: WaitingOrder | None = None) -> str:
    text = _("buy-choose-pack").format(balance=credits_text(balance))
    if order is not None and order.price > balance:
        text += "\n\n" + _("buy-order-needs").format(
            model=escape(order.model_name),
            price=credits_text(order.price),
            missing=credits_text(order.price - balance),
        )
    return text


async def packs_screen(
    billing: BillingService, user: UserRow, state: FSMContext, catalog: Catalog
) -> tuple[str, InlineKeyboardMarkup]:
    """The pack list; with an order waiting, in videos of that order and the covering pack marked."""
    balance = await billing.balance(user.id)
    order = await waiting_order(WizardSession(state), catalog, user.language)
    offers = pack_offers(billing.star_packs, balance=balance, order_price=order.price if order else None)
    return packs_text(balance, order), packs_keyboard(offers)


def pre_checkout_error_text(error: PreCheckoutError) -> str:
    """Shown by Telegram in the payment form, so short."""
    texts = {
        PreCheckoutError.UNKNOWN_PACK: _("precheckout-unknown_pack"),
        PreCheckoutError.WRONG_AMOUNT: _("precheckout-wrong_amount"),
        PreCheckoutError.WRONG_CURRENCY: _("precheckout-wrong_currency"),
        PreCheckoutError.UNKNOWN_USER: _("precheckout-unknown_user"),
    }
    return texts.get(error, _("precheckout-unknown_pack"))




def make_payments_router() -> Router:
    router = Router(name="payments")

    @router.message(Command("buy"))
    async def buy_command(
        message: Message, db_user: UserRow, billing: BillingService, state: FSMContext, catalog: Catalog
    ) -> None:
        text, markup = await packs_screen(billing, db_user, state, catalog)
        await message.answer(text, reply_markup=markup)

    @router.callback_query(MenuCb.filter(F.action == "buy"))
    async def buy_button(
        query: CallbackQuery,
        bot: Bot,
        db_user: UserRow,
        billing: BillingService,
        state: FSMContext,
        catalog: Catalog,
    ) -> None:
        await query.answer()
        text, markup = await packs_screen(billing, db_user, state, catalog)
        await bot.send_message(query.from_user.id, text, reply_markup=markup)

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
    async def successful_payment(
        message: Message,
        payment_recorder: PaymentRecorder,
        bot: Bot,
        state: FSMContext,
        billing: BillingService,
        catalog: Catalog,
        job_history: JobHistory,
        # None when the database was too busy to register the sender (UserMiddleware): the
        # payment is still recorded (or journaled), only the waiting order is not refreshed.
        db_user: UserRow | None = None,
    ) -> None:
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
            text = receipt_text(outcome, payment.total_amount, get_i18n().current_locale)
        elif outcome.result is PaymentResult.JOURNALED:
            log.warning(
                "Stars payment %s of user %s journaled: the database is busy", outcome.charge_id, user_id
            )
            text = pending_receipt_text(outcome.charge_id, payment.total_amount, get_i18n().current_locale)
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
        markup = None
        if db_user is not None and outcome.result in (PaymentResult.CREDITED, PaymentResult.DUPLICATE):
            # The order waiting for this top-up: its summary now offers Confirm.
            screen = WizardScreen(bot, WizardSession(state), db_user, billing, catalog, job_history)
            if await screen.refresh_summary(message.chat.id):
                markup = back_to_order_keyboard()
        await message.answer(text, reply_markup=markup)

    return router
