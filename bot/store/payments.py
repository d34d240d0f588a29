"""Telegram Stars payments: one row per `telegram_payment_charge_id`.

The payment row and the credit movement are written in one transaction, keyed twice: the
`payments.charge_id` primary key and the ledger op_id "payment:<charge_id>". A redelivered
`successful_payment` (same charge id) therefore credits nothing, even after a restart.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from bot.store.db import Database, now, run_on_connection_thread
from bot.store.ledger import Movement, Reason, apply_movement, movement_by_op_id
from bot.store.referrals import ReferralReward, reward_sync


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
    def from_row(cls, row: aiosqlite.Row) -> PaymentRow:
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
        t = now()
        referral: ReferralReward | None = None
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO users (id, created_at, last_seen_at) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO NOTHING",
                (user_id, t, t),
            )
            cursor = await conn.execute(
                """
                INSERT INTO payments
                    (charge_id, user_id, payload, stars, credits, status, created_at, currency)
                VALUES (?, ?, ?, ?, ?, 'paid', ?, ?)
                ON CONFLICT(charge_id) DO NOTHING
                """,
                (charge_id, user_id, payload, stars, credits, t, currency),
            )
            already_recorded = cursor.rowcount == 0
            if already_recorded:
                movement = await movement_by_op_id(conn, payment_op_id(charge_id))
            else:
                # Also for 0 credits: every payment has its ledger row (the books check relies on it).
                movement = await apply_movement(
                    conn,
                    user_id=user_id,
                    amount=credits,
                    reason=Reason.PURCHASE,
                    op_id=payment_op_id(charge_id),
                    charge_id=charge_id,
                    note=payload,
                )
                if credits > 0 and referral_bonus > 0:
                    referral = await run_on_connection_thread(
                        conn, reward_sync, invited_id=user_id, bonus=referral_bonus
                    )
            payment = await self.get_in(conn, charge_id)
            balance_rows = list(
                await conn.execute_fetchall("SELECT balance FROM users WHERE id = ?", (payment.user_id,))
            )
        return RecordedPayment(
            payment=payment,
            movement=movement,
            already_recorded=already_recorded,
            balance=int(balance_rows[0][0]) if balance_rows else 0,
            referral=referral,
        )

    async def get(self, charge_id: str) -> PaymentRow | None:
        row = await self.db.fetchone("SELECT * FROM payments WHERE charge_id = ?", (charge_id,))
        return PaymentRow.from_row(row) if row else None

    @staticmethod
    async def get_in(conn: aiosqlite.Connection, charge_id: str) -> PaymentRow:
        rows = list(await conn.execute_fetchall("SELECT * FROM payments WHERE charge_id = ?", (charge_id,)))
        if not rows:
            raise LookupError(f"payment {charge_id} not found")
        return PaymentRow.from_row(rows[0])

    @staticmethod
    async def credits_and_balance_in(
        conn: aiosqlite.Connection, charge_id: str
    ) -> tuple[int, int, int] | None:
        """(user_id, credits, the user's balance now) of a payment, inside the caller's transaction."""
        rows = list(
            await conn.execute_fetchall(
                "SELECT p.user_id, p.credits, u.balance FROM payments p "
                "LEFT JOIN users u ON u.id = p.user_id WHERE p.charge_id = ?",
                (charge_id,),
            )
        )
        if not rows:
            return None
        return int(rows[0][0]), int(rows[0][1]), int(rows[0][2] or 0)

    @staticmethod
    async def mark_refunded_in(conn: aiosqlite.Connection, charge_id: str) -> bool:
        """paid -> refunded inside the caller's transaction; False if unknown or already refunded."""
        cursor = await conn.execute(
            "UPDATE payments SET status = 'refunded', refunded_at = ? "
            "WHERE charge_id = ? AND status = 'paid'",
            (now(), charge_id),
        )
        return cursor.rowcount == 1

    async def for_user(self, user_id: int, limit: int = 20) -> list[PaymentRow]:
        """The user's payments, newest first (for /paysupport and the admin user view)."""
        rows = await self.db.fetchall(
            "SELECT * FROM payments WHERE user_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (user_id, limit),
        )
        return [PaymentRow.from_row(row) for row in rows]
