"""The credit ledger: the one primitive every credit movement goes through.

`users.balance` is a cached sum of the user's `ledger.amount` rows. `apply_movement_sync` changes
both in the caller's transaction, so the two can never drift apart, and `ledger.op_id` (UNIQUE) makes
every movement idempotent: retried webhooks, duplicate updates and restarts replay the same op_id and
change nothing. The user's row is read FOR UPDATE on PostgreSQL, so two concurrent movements of one
user take turns there as they do under SQLite's BEGIN IMMEDIATE.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum

from bot.store.db import Database, now
from bot.store.sql import Dialect, SqlConnection, SqlRow


class Reason(StrEnum):
    """Stable keys stored in `ledger.reason`; the Telegram layer localizes them."""

    SIGNUP_BONUS = "signup_bonus"
    PURCHASE = "purchase"
    GENERATION = "generation"
    REFUND = "refund"
    ADMIN_GRANT = "admin_grant"
    STARS_REFUND = "stars_refund"
    FREE_FIRST_VIDEO = "free_first_video"
    REFERRAL_BONUS = "referral_bonus"


class LedgerError(Exception):
    """Base class of the credit errors the bot reports to users and admins."""


class InsufficientCredits(LedgerError):
    """A debit would take the balance below zero. Nothing was changed."""

    def __init__(self, balance: int, needed: int) -> None:
        super().__init__(f"not enough credits: balance {balance}, needed {needed}")
        self.balance = balance
        self.needed = needed


class UnknownUser(LedgerError):
    """The user has no row in `users` (never registered), so no balance to move."""

    def __init__(self, user_id: int) -> None:
        super().__init__(f"unknown user {user_id}")
        self.user_id = user_id


@dataclass(frozen=True)
class Movement:
    """One ledger row: a signed change of a user's balance."""

    id: int
    user_id: int
    amount: int
    reason: str
    op_id: str
    job_id: int | None
    charge_id: str | None
    actor: str
    note: str | None
    balance_after: int
    created_at: float

    @classmethod
    def from_row(cls, row: SqlRow) -> Movement:
        return cls(
            id=row["id"],
            user_id=row["user_id"],
            amount=row["amount"],
            reason=row["reason"],
            op_id=row["op_id"],
            job_id=row["job_id"],
            charge_id=row["charge_id"],
            actor=row["actor"],
            note=row["note"],
            balance_after=row["balance_after"],
            created_at=row["created_at"],
        )


@dataclass(frozen=True)
class LedgerTotals:
    """Whole-bot credit figures for /stats."""

    users: int
    balances: int  # credits users hold right now
    stars_received: int  # Stars of payments not refunded
    credits_sold: int  # credits of payments not refunded
    stars_refunded: int
    credits_spent: int  # settled reservations
    credits_held: int  # reservations of jobs still running
    credits_refunded: int  # reservations refunded after a failed generation
    credits_granted: int  # net admin grants, may be negative
    signup_bonuses: int


_MOVEMENT_COLUMNS = (
    "id, user_id, amount, reason, op_id, job_id, charge_id, actor, note, balance_after, created_at"
)

# One statement writes the ledger row only if the user exists, the balance stays >= 0 and the op_id
# is new; `balance_after` is computed from the live balance in the same statement. The WHERE clause
# is required by SQLite's parser before an upsert clause on INSERT ... SELECT. On PostgreSQL the
# user's row is locked by the SELECT (`{for_update}`): a concurrent movement of the same user waits
# for this transaction, then reads the balance it left (not the one before it).
# CAST: PostgreSQL cannot infer the type of a NULL parameter in a SELECT list.
_INSERT_MOVEMENT = f"""
    INSERT INTO ledger (user_id, amount, reason, op_id, job_id, charge_id, actor, note,
                        balance_after, created_at)
    SELECT id, :amount, :reason, :op_id, CAST(:job_id AS BIGINT), CAST(:charge_id AS TEXT), :actor,
           CAST(:note AS TEXT), balance + :amount, :created_at
    FROM users WHERE id = :user_id AND balance + :amount >= 0{{for_update}}
    ON CONFLICT(op_id) DO NOTHING
    RETURNING {_MOVEMENT_COLUMNS}
"""


@functools.cache
def _insert_movement(dialect: Dialect) -> str:
    return _INSERT_MOVEMENT.format(for_update=dialect.for_update)


def require_transaction(raw: SqlConnection) -> None:
    """Refuse to start a multi-statement money step outside the caller's BEGIN IMMEDIATE.

    Without it, each statement would autocommit alone and a crash or error between two of them
    would leave a half-done movement (e.g. a ledger row without its balance change).
    """
    if not raw.in_transaction:
        raise RuntimeError("credit movements must run inside a write transaction")


def apply_movement_sync(
    raw: SqlConnection,
    *,
    user_id: int,
    amount: int,
    reason: str,
    op_id: str,
    job_id: int | None = None,
    charge_id: str | None = None,
    actor: str = "system",
    note: str | None = None,
) -> Movement | None:
    """Write one ledger row and move the balance by `amount`, inside the caller's transaction.

    Returns the new movement, or None when `op_id` was already applied (nothing changes).
    Raises InsufficientCredits when a debit would make the balance negative, UnknownUser when the
    user has no row; in both cases nothing was written, so the caller may carry on.
    """
    require_transaction(raw)
    params = {
        "user_id": user_id,
        "amount": amount,
        "reason": str(reason),
        "op_id": op_id,
        "job_id": job_id,
        "charge_id": charge_id,
        "actor": actor,
        "note": note,
        "created_at": now(),
    }
    row = raw.execute(_insert_movement(raw.dialect), params).fetchone()
    if row is not None:
        # The CHECK (balance >= 0) constraint backs up the guard in the INSERT above.
        raw.execute("UPDATE users SET balance = balance + ? WHERE id = ?", (amount, user_id))
        return Movement.from_row(row)
    # Nothing inserted: find out why. This path is rare, so the extra reads cost nothing overall.
    if raw.execute("SELECT 1 FROM ledger WHERE op_id = ?", (op_id,)).fetchone() is not None:
        return None
    balance_row = raw.execute("SELECT balance FROM users WHERE id = ?", (user_id,)).fetchone()
    if balance_row is None:
        raise UnknownUser(user_id)
    raise InsufficientCredits(balance=int(balance_row[0]), needed=-amount)


def movement_by_op_id_sync(raw: SqlConnection, op_id: str) -> Movement | None:
    row = raw.execute(f"SELECT {_MOVEMENT_COLUMNS} FROM ledger WHERE op_id = ?", (op_id,)).fetchone()
    return Movement.from_row(row) if row else None


def apply_or_existing_sync(
    raw: SqlConnection,
    *,
    user_id: int,
    amount: int,
    reason: str,
    op_id: str,
    actor: str = "system",
    note: str | None = None,
) -> Movement:
    """`apply_movement_sync`, or the movement already recorded under `op_id` (a replay)."""
    applied = apply_movement_sync(
        raw, user_id=user_id, amount=amount, reason=reason, op_id=op_id, actor=actor, note=note
    )
    if applied is not None:
        return applied
    existing = movement_by_op_id_sync(raw, op_id)
    assert existing is not None  # the op_id conflicted, so its row is there
    return existing


class LedgerRepo:
    """Reads over the ledger, plus `apply` for a movement that needs no other write."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def apply(
        self,
        *,
        user_id: int,
        amount: int,
        reason: str,
        op_id: str,
        job_id: int | None = None,
        charge_id: str | None = None,
        actor: str = "system",
        note: str | None = None,
    ) -> Movement | None:
        """`apply_movement` in its own transaction."""
        return await self.db.run_in_transaction(
            apply_movement_sync,
            user_id=user_id,
            amount=amount,
            reason=reason,
            op_id=op_id,
            job_id=job_id,
            charge_id=charge_id,
            actor=actor,
            note=note,
        )

    async def apply_or_existing(
        self,
        *,
        user_id: int,
        amount: int,
        reason: str,
        op_id: str,
        actor: str = "system",
        note: str | None = None,
    ) -> Movement:
        """`apply`, returning the movement recorded earlier under `op_id` when it is a replay."""
        return await self.db.run_in_transaction(
            apply_or_existing_sync, op_id=op_id, user_id=user_id, amount=amount, reason=reason,
            actor=actor, note=note,
        )

    async def balance(self, user_id: int) -> int | None:
        """The user's balance, or None for a user who never registered."""
        row = await self.db.fetchone("SELECT balance FROM users WHERE id = ?", (user_id,))
        return int(row[0]) if row else None

    async def recent(self, user_id: int, limit: int = 10) -> list[Movement]:
        """The user's latest movements, newest first."""
        rows = await self.db.fetchall(
            f"SELECT {_MOVEMENT_COLUMNS} FROM ledger WHERE user_id = ? ORDER BY id DESC LIMIT ?",
            (user_id, limit),
        )
        return [Movement.from_row(row) for row in rows]

    async def sum_for_user(self, user_id: int) -> int:
        """Sum of the user's ledger amounts; always equals users.balance (the invariant)."""
        row = await self.db.fetchone(
            "SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE user_id = ?", (user_id,)
        )
        return int(row[0]) if row else 0

    async def by_op_id(self, op_id: str) -> Movement | None:
        row = await self.db.fetchone(f"SELECT {_MOVEMENT_COLUMNS} FROM ledger WHERE op_id = ?", (op_id,))
        return Movement.from_row(row) if row else None

    async def totals(self) -> LedgerTotals:
        # Scalar subqueries in one statement: one consistent snapshot, one round trip.
        row = await self.db.fetchone(
            """
            SELECT
              (SELECT COUNT(*) FROM users),
              (SELECT COALESCE(SUM(balance), 0) FROM users),
              (SELECT COALESCE(SUM(stars), 0) FROM payments WHERE status = 'paid'),
              (SELECT COALESCE(SUM(credits), 0) FROM payments WHERE status = 'paid'),
              (SELECT COALESCE(SUM(stars), 0) FROM payments WHERE status = 'refunded'),
              (SELECT COALESCE(SUM(amount), 0) FROM reservations WHERE status = 'settled'),
              (SELECT COALESCE(SUM(amount), 0) FROM reservations WHERE status = 'held'),
              (SELECT COALESCE(SUM(amount), 0) FROM reservations WHERE status = 'refunded'),
              (SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE reason = ?),
              (SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE reason = ?)
            """,
            (Reason.ADMIN_GRANT.value, Reason.SIGNUP_BONUS.value),
        )
        assert row is not None
        return LedgerTotals(*(int(value) for value in row))
