"""Telegram Stars payments: one row per `telegram_payment_charge_id`.

The payment row and the credit movement are written in one transaction, keyed twice: the
`payments.charge_id` primary key and the ledger op_id "payment:<charge_id>". A redelivered
`successful_payment` (same charge id) therefore credits nothing, even after a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.store.db import Database, now
from bot.store.ledger import Movement, Reason, apply_movement_sync, movement_by_op_id_sync
from bot.store.referrals import ReferralReward, reward_sync
from bot.store.sql import SqlConnection, SqlRow


def payment_op_id(charge_id: str) -> str:
    return f"payment:{charge_id}"


def stars_refund_op_id(charge_id: str) -> str:
    return f"stars_refund:{charge_id}"


@dataclass(frozen=True)
class PaymentRow:
    charge_id: str
    user_id: int
    payload: str
    stars: int  # total_amount as paid (in `currency`'s units; XTR for every real Stars payment)
    credits: int  # 0 for a payment that matched no pack sold: recorded for the operator to refund
    status: str  # 'paid' or 'refunded'
    created_at: float
    refunded_at: float | None
    currency: str = "XTR"

    @property
    def refunded(self) -> bool:
        return self.status == "refunded"

    @classmethod
    def from_row(cls, row: SqlRow) -> PaymentRow:
        return cls(
            charge_id=row["charge_id"],
            user_id=row["user_id"],
            payload=row["payload"],
            stars=row["stars"],
            credits=row["credits"],
            status=row["status"],
            created_at=row["created_at"],
            refunded_at=row["refunded_at"],
            currency=row["currency"],
        )


@dataclass(frozen=True)
class RecordedPayment:
    """What `record_and_credit` did. `movement` is the credit row, the old one for a duplicate."""

    payment: PaymentRow
    movement: Movement | None
    already_recorded: bool
    balance: int
    referral: ReferralReward | None = None  # rewarded by this payment (its first delivery only)


class StarsRefundStatus(StrEnum):
    UNKNOWN_PAYMENT = "unknown_payment"
    ALREADY_REFUNDED = "already_refunded"
    REFUNDED = "refunded"


@dataclass(frozen=True)
class StarsRefund:
    """What `take_back_refunded` did."""

    status: StarsRefundStatus
    user_id: int | None = None
    credits: int = 0  # of the payment
    taken: int = 0  # credits taken back (fewer than `credits` if the user spent some)
    balance: int | None = None  # the user's balance afterwards


class PaymentsRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record_pre_checkout(
        self, *, user_id: int, payload: str, currency: str, stars: int, credits: int
    ) -> None:
        """Remember the pack a pre-checkout was accepted for (the latest acceptance wins)."""
        await self.db.execute(
            """
            INSERT INTO pre_checkouts (user_id, payload, currency, stars, credits, accepted_at)
            VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT(user_id, payload) DO UPDATE SET
                currency = excluded.currency, stars = excluded.stars,
                credits = excluded.credits, accepted_at = excluded.accepted_at
            """,
            (user_id, payload, currency, stars, credits, now()),
        )

    async def accepted_at_pre_checkout(self, user_id: int, payload: str) -> tuple[str, int, int] | None:
        """(currency, stars, credits) accepted at pre-checkout for this user and payload, or None."""
        row = await self.db.fetchone(
            "SELECT currency, stars, credits FROM pre_checkouts WHERE user_id = ? AND payload = ?",
            (user_id, payload),
        )
        return (str(row[0]), int(row[1]), int(row[2])) if row else None

    async def record_and_credit(
        self,
        *,
        user_id: int,
        charge_id: str,
        payload: str,
        currency: str,
        stars: int,
        credits: int,
        referral_bonus: int = 0,
    ) -> RecordedPayment:
        """Record a successful payment and credit `credits` in one transaction, exactly once.

        The first paid top-up (credits > 0) of an invited user also rewards the referral with
        `referral_bonus` for both users, in the same transaction (see bot.store.referrals).

        A user row is created if missing: the Stars are already paid, so the credit must land
        even if the user was never registered (e.g. a database restored from an old backup).
        """
        return await self.db.run_in_transaction(
            _record_and_credit_sync,
            user_id=user_id,
            charge_id=charge_id,
            payload=payload,
            currency=currency,
            stars=stars,
            credits=credits,
            referral_bonus=referral_bonus,
        )

    async def take_back_refunded(self, charge_id: str, *, actor: str) -> StarsRefund:
        """paid -> refunded and the payment's credits taken back, once, in one transaction.

        The Stars are already refunded when this runs, so it never refuses for lack of credits: if
        the user spent some, it takes what is left (`taken` < `credits`, noted as a shortfall).
        """
        return await self.db.run_in_transaction(_take_back_refunded_sync, charge_id, actor)

    async def get(self, charge_id: str) -> PaymentRow | None:
        row = await self.db.fetchone("SELECT * FROM payments WHERE charge_id = ?", (charge_id,))
        return PaymentRow.from_row(row) if row else None

    async def for_user(self, user_id: int, limit: int = 20) -> list[PaymentRow]:
        """The user's payments, newest first (for /paysupport and the admin user view)."""
        # Same-instant payments: SQLite's rowid keeps their order; PostgreSQL has none, charge id.
        tie = "rowid" if self.db.dialect.name == "sqlite" else "charge_id"
        rows = await self.db.fetchall(
            f"SELECT * FROM payments WHERE user_id = ? ORDER BY created_at DESC, {tie} DESC LIMIT ?",
            (user_id, limit),
        )
        return [PaymentRow.from_row(row) for row in rows]


# --- bodies (run by Database.run_in_transaction) ---------------------------------------------------


def _get_sync(raw: SqlConnection, charge_id: str) -> PaymentRow:
    row = raw.execute("SELECT * FROM payments WHERE charge_id = ?", (charge_id,)).fetchone()
    if row is None:
        raise LookupError(f"payment {charge_id} not found")
    return PaymentRow.from_row(row)


def _balance_sync(raw: SqlConnection, user_id: int, *, lock: bool = False) -> int | None:
    suffix = raw.dialect.for_update if lock else ""
    row = raw.execute(f"SELECT balance FROM users WHERE id = ?{suffix}", (user_id,)).fetchone()
    return int(row[0]) if row else None


def _record_and_credit_sync(
    raw: SqlConnection,
    *,
    user_id: int,
    charge_id: str,
    payload: str,
    currency: str,
    stars: int,
    credits: int,
    referral_bonus: int,
) -> RecordedPayment:
    t = now()
    referral: ReferralReward | None = None
    raw.execute(
        "INSERT INTO users (id, created_at, last_seen_at) VALUES (?, ?, ?) ON CONFLICT(id) DO NOTHING",
        (user_id, t, t),
    )
    # A concurrent delivery of the same charge id waits here on PostgreSQL (the primary key) until
    # this transaction ends, then inserts nothing: only one of them credits.
    inserted = raw.execute(
        """
        INSERT INTO payments (charge_id, user_id, payload, stars, credits, status, created_at, currency)
        VALUES (?, ?, ?, ?, ?, 'paid', ?, ?)
        ON CONFLICT(charge_id) DO NOTHING
        """,
        (charge_id, user_id, payload, stars, credits, t, currency),
    ).rowcount
    already_recorded = inserted == 0
    movement: Movement | None
    if already_recorded:
        movement = movement_by_op_id_sync(raw, payment_op_id(charge_id))
    else:
        # Also for 0 credits: every payment has its ledger row (the books check relies on it).
        movement = apply_movement_sync(
            raw,
            user_id=user_id,
            amount=credits,
            reason=Reason.PURCHASE,
            op_id=payment_op_id(charge_id),
            charge_id=charge_id,
            note=payload,
        )
        if credits > 0 and referral_bonus > 0:
            referral = reward_sync(raw, invited_id=user_id, bonus=referral_bonus)
    payment = _get_sync(raw, charge_id)
    return RecordedPayment(
        payment=payment,
        movement=movement,
        already_recorded=already_recorded,
        balance=_balance_sync(raw, payment.user_id) or 0,
        referral=referral,
    )


def _take_back_refunded_sync(raw: SqlConnection, charge_id: str, actor: str) -> StarsRefund:
    found = raw.execute(
        f"SELECT user_id, credits FROM payments WHERE charge_id = ?{raw.dialect.for_update}", (charge_id,)
    ).fetchone()
    if found is None:
        return StarsRefund(StarsRefundStatus.UNKNOWN_PAYMENT)
    user_id, credits = int(found[0]), int(found[1])
    marked = raw.execute(
        "UPDATE payments SET status = 'refunded', refunded_at = ? WHERE charge_id = ? AND status = 'paid'",
        (now(), charge_id),
    ).rowcount
    # The balance decides how much is taken: locked, so no debit slips in between.
    balance = _balance_sync(raw, user_id, lock=True) or 0
    if marked != 1:
        return StarsRefund(StarsRefundStatus.ALREADY_REFUNDED, user_id, credits, 0, balance)
    taken = min(balance, credits)
    shortfall = credits - taken
    movement = apply_movement_sync(
        raw,
        user_id=user_id,
        amount=-taken,
        reason=Reason.STARS_REFUND,
        op_id=stars_refund_op_id(charge_id),
        charge_id=charge_id,
        actor=actor,
        note=f"shortfall {shortfall}" if shortfall else None,
    )
    if movement is None:
        # The payment was 'paid' yet its refund row exists: only a hand edit does this.
        existing = movement_by_op_id_sync(raw, stars_refund_op_id(charge_id))
        taken = -existing.amount if existing else 0
    balance_after = movement.balance_after if movement else balance
    return StarsRefund(StarsRefundStatus.REFUNDED, user_id, credits, taken, balance_after)
