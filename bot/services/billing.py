"""Credits: signup bonus, reservations for generations, Stars purchases and refunds, admin tools.

Every balance change goes through `bot.store.ledger.apply_movement_sync`, keyed by a unique op_id, so
each business event moves credits exactly once however often it is replayed:

    signup:<user_id>          signup bonus
    free_first:<user_id>      free first video (FREE_FIRST_VIDEO_CREDITS), new users only
    referral:<invited_id>:inviter / :invited
                              referral bonus, with the invited user's first paid top-up
    payment:<charge_id>       Stars purchase
    stars_refund:<charge_id>  Stars refunded by an admin
    <key>:reserve             generation reserved (key e.g. "job:42")
    <key>:refund              generation failed, credits returned
    admin:<uuid>              admin /grant

A generation is paid by reserving (debiting) before KIE is called; the reservation then ends
exactly once, either settled (the money stays spent) or refunded (a credit row). The SQL lives in
bot/store/reservations.py; a confirmed order is reserved in the transaction that records its job
(JobsRepo.create_reserved), and a job's outcome settles or refunds in the same transaction as its
state change (JobsRepo.succeed/fail/time_out), so the job row and the money move atomically.

Stars refund order (Telegram first, then the database), see `refund_payment`:
  1. `prepare_refund` checks the payment is known, not refunded, and its credits are unspent.
  2. The Telegram layer calls refundStarPayment; CHARGE_ALREADY_REFUNDED counts as success.
     If the call fails, nothing was changed and the admin can retry.
  3. `complete_refund` marks the payment refunded and takes the credits back, exactly once.
A crash between 2 and 3 heals itself: a retried /refund finds the payment still 'paid', Telegram
answers CHARGE_ALREADY_REFUNDED, and step 3 runs.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.config import Settings, StarPack
from bot.services.ports import UnsoldPaymentAlerts
from bot.store.db import Database
from bot.store.ledger import (
    InsufficientCredits,
    LedgerError,
    LedgerRepo,
    LedgerTotals,
    Movement,
    Reason,
    UnknownUser,
)
from bot.store.payments import PaymentRow, PaymentsRepo, StarsRefundStatus
from bot.store.reports import ReportsRepo, UserMoney
from bot.store.reservations import ReservationExists, ReservationRow, ReservationsRepo

__all__ = [
    "BillingService",
    "BillingStats",
    "InsufficientCredits",
    "LedgerError",
    "Movement",
    "PaymentOutcome",
    "PaymentResult",
    "PreCheckoutError",
    "Reason",
    "RefundOutcome",
    "RefundPlan",
    "RefundRefusal",
    "RefundResult",
    "ReservationExists",
    "ReservationRow",
    "UnknownUser",
    "UserBillingSummary",
    "pack_payload",
    "parse_pack_payload",
]

log = logging.getLogger(__name__)

STARS_CURRENCY = "XTR"
_PAYLOAD_RE = re.compile(r"pack:(\d{1,9}):(\d{1,12})")


class PreCheckoutError(StrEnum):
    """Why a pre-checkout query is declined; the Telegram layer localizes the key."""

    UNKNOWN_PACK = "unknown_pack"
    WRONG_AMOUNT = "wrong_amount"
    WRONG_CURRENCY = "wrong_currency"
    UNKNOWN_USER = "unknown_user"


class PaymentResult(StrEnum):
    CREDITED = "credited"
    DUPLICATE = "duplicate"  # same charge id seen before: nothing credited this time
    # Paid, but not for a pack that was sold: unknown or forged payload, another currency, or an
    # amount that is not the pack's price (should not happen: pre-checkout checks it). Recorded
    # with 0 credits so an admin can find it and refund the Stars in full. Also on redelivery.
    UNRECOGNIZED = "unrecognized"
    # The database could not take it (locked past its busy timeout, even after retries): kept in
    # the payments journal and credited as soon as the database is free (PaymentRecorder).
    JOURNALED = "journaled"


@dataclass(frozen=True)
class PaymentOutcome:
    result: PaymentResult
    charge_id: str
    credits: int  # credited by this payment (also for a duplicate: what the first delivery gave)
    balance: int  # the user's balance now
    first_delivery: bool = True  # False when this charge id was recorded before
    referral_bonus: int = 0  # credited to this user (and their inviter) by this payment


class RefundRefusal(StrEnum):
    """Why a Stars refund cannot go ahead; checked before Telegram is called."""

    UNKNOWN_PAYMENT = "unknown_payment"
    ALREADY_REFUNDED = "already_refunded"
    CREDITS_SPENT = "credits_spent"


@dataclass(frozen=True)
class RefundPlan:
    """A Stars refund that may go ahead: refund `stars` to `user_id`, then take back `credits`."""

    charge_id: str
    user_id: int
    stars: int
    credits: int
    balance: int


class RefundResult(StrEnum):
    REFUNDED = "refunded"
    ALREADY_REFUNDED = "already_refunded"
    UNKNOWN_PAYMENT = "unknown_payment"


@dataclass(frozen=True)
class RefundOutcome:
    result: RefundResult
    charge_id: str
    user_id: int | None
    credits_taken: int
    # Credits the user spent between prepare and complete (Telegram refunded the Stars anyway).
    shortfall: int
    balance: int | None


@dataclass(frozen=True)
class UserBillingSummary(UserMoney):
    """A user's credit figures (UserMoney) with their id and latest ledger rows, for /user."""

    user_id: int
    recent: list[Movement]


@dataclass(frozen=True)
class BillingStats:
    totals: LedgerTotals
    jobs_by_state: dict[str, int]


def pack_payload(pack: StarPack) -> str:
    """The invoice payload of a pack (Telegram allows 1-128 bytes)."""
    return f"pack:{pack.stars}:{pack.credits}"


def parse_pack_payload(payload: str) -> StarPack | None:
    """The pack a payload names, whether or not it is still on sale; None if malformed."""
    match = _PAYLOAD_RE.fullmatch(payload)
    if not match:
        return None
    stars, credits = int(match.group(1)), int(match.group(2))
    if stars < 1 or credits < 1:
        return None
    return StarPack(stars, credits)




class BillingService:
    def __init__(
        self,
        db: Database,
        *,
        signup_bonus: int,
        star_packs: Sequence[StarPack],
        alerts: UnsoldPaymentAlerts | None = None,
        free_first_video: int = 0,
        referral_bonus: int = 0,
    ) -> None:
        # Told about a payment recorded with 0 credits (normally: the admins are alerted).
        self.alerts = alerts
        self.db = db
        self.signup_bonus = signup_bonus
        self.free_first_video = free_first_video
        self.referral_bonus = referral_bonus
        self.star_packs = tuple(star_packs)
        self.ledger = LedgerRepo(db)
        self.payments = PaymentsRepo(db)
        self.reservations = ReservationsRepo(db)
        self.reports = ReportsRepo(db)

    @classmethod
    def from_settings(
        cls, db: Database, settings: Settings, *, alerts: UnsoldPaymentAlerts | None = None
    ) -> BillingService:
        return cls(
            db,
            signup_bonus=settings.signup_bonus,
            star_packs=settings.star_packs,
            alerts=alerts,
            free_first_video=settings.free_first_video_credits,
            referral_bonus=settings.referral_bonus_credits,
        )

    # --- balances ---

    async def payments_of(self, user_id: int, limit: int = 20) -> list[PaymentRow]:
        """The user's Stars payments, newest first (for /paysupport)."""
        return await self.payments.for_user(user_id, limit=limit)

    async def payment(self, charge_id: str) -> PaymentRow | None:
        return await self.payments.get(charge_id)

    async def balance(self, user_id: int) -> int:
        """The user's balance; 0 for a user who never registered."""
        return await self.ledger.balance(user_id) or 0

    async def grant_signup_bonus(self, user_id: int) -> bool:
        """Credit the signup bonus once per user; True if it was credited now."""
        if self.signup_bonus <= 0:
            return False
        movement = await self.ledger.apply(
            user_id=user_id, amount=self.signup_bonus, reason=Reason.SIGNUP_BONUS, op_id=f"signup:{user_id}"
        )
        return movement is not None

    async def grant_free_first_video(self, user_id: int) -> bool:
        """Credit the free first video once per user (op id free_first:<user_id>); True if now."""
        if self.free_first_video <= 0:
            return False
        movement = await self.ledger.apply(
            user_id=user_id,
            amount=self.free_first_video,
            reason=Reason.FREE_FIRST_VIDEO,
            op_id=f"free_first:{user_id}",
        )
        return movement is not None

    async def welcome_new_user(self, user_id: int) -> None:
        """Everything a brand-new user gets: the signup bonus and the free first video."""
        await self.grant_signup_bonus(user_id)
        await self.grant_free_first_video(user_id)

    # --- reservations for generations ---

    async def reserve(self, user_id: int, amount: int, key: str, *, job_id: int | None = None) -> None:
        await self.reservations.reserve(user_id, amount, key, job_id=job_id)

    async def settle(self, key: str) -> bool:
        return await self.reservations.settle(key)

    async def refund(self, key: str, reason: str = Reason.REFUND, *, job_id: int | None = None) -> bool:
        return await self.reservations.refund(key, reason, job_id=job_id)

    async def reservation(self, key: str) -> ReservationRow | None:
        return await self.reservations.get(key)

    # --- Telegram Stars ---

    def pack_for_payload(self, payload: str) -> StarPack | None:
        """The pack on sale that `payload` names, or None."""
        pack = parse_pack_payload(payload)
        return pack if pack in self.star_packs else None

    def payload_for_pack(self, pack: StarPack) -> str:
        return pack_payload(pack)

    async def check_pre_checkout(
        self, user_id: int, payload: str, currency: str, total_amount: int
    ) -> PreCheckoutError | None:
        """None if the payment may go ahead, else the reason to decline. Telegram wants the
        answer within 10 seconds: one indexed read, and one small write for an accepted pack.

        The accepted pack is recorded, so the successful_payment that follows is credited as sold
        even if the operator removed the pack from STAR_PACKS (a restart) in between.
        """
        if currency != STARS_CURRENCY:
            return PreCheckoutError.WRONG_CURRENCY
        pack = self.pack_for_payload(payload)
        if pack is None:
            return PreCheckoutError.UNKNOWN_PACK
        if total_amount != pack.stars:
            return PreCheckoutError.WRONG_AMOUNT
        if await self.ledger.balance(user_id) is None:
            return PreCheckoutError.UNKNOWN_USER
        await self.payments.record_pre_checkout(
            user_id=user_id, payload=payload, currency=currency, stars=pack.stars, credits=pack.credits
        )
        return None

    async def sold_pack(
        self, user_id: int, payload: str, total_amount: int, currency: str = STARS_CURRENCY
    ) -> StarPack | None:
        """The pack this payment really bought, or None.

        A pack counts as sold if it is on sale now or was accepted at this user's pre-checkout
        for this payload; and the payment must be that pack's price in Stars. The payload alone
        proves nothing: it is whatever the update says.
        """
        if currency != STARS_CURRENCY:
            return None
        pack = self.pack_for_payload(payload)
        if pack is None:
            accepted = await self.payments.accepted_at_pre_checkout(user_id, payload)
            if accepted is not None and accepted[0] == STARS_CURRENCY:
                pack = StarPack(accepted[1], accepted[2])
        if pack is None or pack.stars != total_amount:
            return None
        return pack

    async def credit_payment(
        self, user_id: int, charge_id: str, payload: str, total_amount: int, currency: str = STARS_CURRENCY
    ) -> PaymentOutcome:
        """Record a successful Stars payment and credit the pack it bought, exactly once per charge id.

        A payment that matches no pack sold (see `sold_pack`) is recorded with 0 credits so an admin
        can refund the Stars, and the admins are alerted once (on its first delivery).
        """
        pack = await self.sold_pack(user_id, payload, total_amount, currency)
        recorded = await self.payments.record_and_credit(
            user_id=user_id,
            charge_id=charge_id,
            payload=payload,
            currency=currency,
            stars=total_amount,
            credits=pack.credits if pack is not None else 0,
            referral_bonus=self.referral_bonus,
        )
        first_delivery = not recorded.already_recorded
        if recorded.payment.credits == 0:
            result = PaymentResult.UNRECOGNIZED
        elif first_delivery:
            result = PaymentResult.CREDITED
        else:
            result = PaymentResult.DUPLICATE
        outcome = PaymentOutcome(
            result=result,
            charge_id=charge_id,
            credits=recorded.payment.credits,
            balance=recorded.balance,
            first_delivery=first_delivery,
            referral_bonus=recorded.referral.bonus if recorded.referral is not None else 0,
        )
        if result is PaymentResult.UNRECOGNIZED and first_delivery and self.alerts is not None:
            try:
                await self.alerts.unsold_payment(recorded.payment)
            except Exception:
                # The payment is recorded; a failed alert must not turn into an error for the user.
                log.exception("Alert about unsold payment %s failed", charge_id)
        return outcome

    async def prepare_refund(self, charge_id: str) -> RefundPlan | RefundRefusal:
        """Step 1 of a Stars refund: may it go ahead? Read-only."""
        payment = await self.payments.get(charge_id)
        if payment is None:
            return RefundRefusal.UNKNOWN_PAYMENT
        if payment.refunded:
            return RefundRefusal.ALREADY_REFUNDED
        balance = await self.balance(payment.user_id)
        if balance < payment.credits:
            return RefundRefusal.CREDITS_SPENT
        return RefundPlan(
            charge_id=charge_id,
            user_id=payment.user_id,
            stars=payment.stars,
            credits=payment.credits,
            balance=balance,
        )

    async def complete_refund(self, charge_id: str, admin_id: int) -> RefundOutcome:
        """Step 3, after Telegram refunded the Stars: mark refunded and take the credits back, once.

        The Stars are gone at this point, so this never refuses for lack of credits: if the user
        spent some since step 1, it takes what is left and reports the shortfall.
        """
        done = await self.payments.take_back_refunded(charge_id, actor=f"admin:{admin_id}")
        if done.status is StarsRefundStatus.UNKNOWN_PAYMENT:
            return RefundOutcome(RefundResult.UNKNOWN_PAYMENT, charge_id, None, 0, 0, None)
        if done.status is StarsRefundStatus.ALREADY_REFUNDED:
            return RefundOutcome(RefundResult.ALREADY_REFUNDED, charge_id, done.user_id, 0, 0, done.balance)
        user_id, taken, shortfall = done.user_id, done.taken, done.credits - done.taken
        return RefundOutcome(RefundResult.REFUNDED, charge_id, user_id, taken, shortfall, done.balance)

    async def refund_payment(
        self, charge_id: str, admin_id: int, refund_stars: Callable[[int, str], Awaitable[None]]
    ) -> RefundOutcome | RefundRefusal:
        """The whole admin /refund: prepare, `await refund_stars(user_id, charge_id)`, complete.

        `refund_stars` is the Telegram call (refundStarPayment). It must return normally when
        Telegram refunded the Stars or answers CHARGE_ALREADY_REFUNDED, and raise otherwise; an
        exception propagates and leaves the database unchanged.
        """
        plan = await self.prepare_refund(charge_id)
        if isinstance(plan, RefundRefusal):
            return plan
        await refund_stars(plan.user_id, charge_id)
        return await self.complete_refund(charge_id, admin_id)

    # --- admin ---

    async def grant(
        self, admin_id: int, user_id: int, credits: int, note: str = "", *, op_id: str | None = None
    ) -> Movement:
        """Add (or, if negative, take) credits by hand; never below zero.

        Pass `op_id` to make a retried command idempotent; by default each call is a new movement.
        Raises InsufficientCredits for a negative grant larger than the balance, UnknownUser.
        """
        if credits == 0:
            raise ValueError("a grant of 0 credits changes nothing")
        op_id = op_id or f"admin:{uuid.uuid4().hex}"
        return await self.ledger.apply_or_existing(
            user_id=user_id,
            amount=credits,
            reason=Reason.ADMIN_GRANT,
            op_id=op_id,
            actor=f"admin:{admin_id}",
            note=note or None,
        )

    async def user_summary(self, user_id: int, recent_limit: int = 10) -> UserBillingSummary | None:
        money = await self.reports.user_money(user_id)
        if money is None:
            return None
        recent = await self.ledger.recent(user_id, recent_limit)
        return UserBillingSummary(**dataclasses.asdict(money), user_id=user_id, recent=recent)

    async def stats(self) -> BillingStats:
        totals = await self.ledger.totals()
        return BillingStats(totals=totals, jobs_by_state=await self.reports.jobs_by_state())
