"""Reservations: credits held for a generation until it ends, settled or refunded exactly once.

A reservation is made by debiting the user (ledger op `<key>:reserve`) and recording it as 'held';
it then ends once: 'settled' (the money stays spent) or 'refunded' (a credit row `<key>:refund`).
The guarded status flip `WHERE status = 'held'` is what makes each end happen once: only one
caller sees 'held'.

The `*_sync` functions are bodies for one-round-trip steps (`Database.run_in_transaction`), also
called inside a caller's body: the job outcome transitions in store/jobs.py call them in the same
transaction as the job's state change.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.store.db import Database, now
from bot.store.ledger import LedgerError, Reason, apply_movement_sync, require_transaction
from bot.store.sql import SqlConnection


class ReservationExists(LedgerError):
    """A reservation with this key was already made; nothing was changed."""

    def __init__(self, key: str) -> None:
        super().__init__(f"reservation {key} already exists")
        self.key = key


@dataclass(frozen=True)
class ReservationRow:
    key: str
    user_id: int
    amount: int
    status: str  # 'held', 'settled' or 'refunded'
    created_at: float
    updated_at: float


def reserve_op_id(key: str) -> str:
    return f"{key}:reserve"


def refund_op_id(key: str) -> str:
    return f"{key}:refund"


def undelivered_op_id(key: str) -> str:
    """The credit back for a settled generation whose video never reached the user."""
    return f"{key}:undelivered"


# The one settle statement: atomic on its own, so it also runs alone without BEGIN/COMMIT.
_SETTLE = "UPDATE reservations SET status = 'settled', updated_at = ? WHERE key = ? AND status = 'held'"


def reserve_sync(
    raw: SqlConnection, *, user_id: int, amount: int, key: str, job_id: int | None = None
) -> None:
    """Debit `amount` and hold it under `key`, inside the caller's transaction.

    Raises InsufficientCredits(balance, needed=amount), UnknownUser or ReservationExists; in every
    case nothing was written. Raises RuntimeError outside a transaction.
    """
    if amount < 0:
        raise ValueError("a reservation amount cannot be negative")
    require_transaction(raw)
    # The debit goes first: it raises (InsufficientCredits, UnknownUser) before anything is
    # written, and its op_id doubles as the "key already used" check.
    movement = apply_movement_sync(
        raw,
        user_id=user_id,
        amount=-amount,
        reason=Reason.GENERATION,
        op_id=reserve_op_id(key),
        job_id=job_id,
    )
    if movement is None:
        raise ReservationExists(key)
    t = now()
    raw.execute(
        "INSERT INTO reservations (key, user_id, amount, status, created_at, updated_at) "
        "VALUES (?, ?, ?, 'held', ?, ?)",
        (key, user_id, amount, t, t),
    )


def settle_sync(raw: SqlConnection, key: str) -> bool:
    """held -> settled inside the caller's transaction. False if unknown or already ended."""
    require_transaction(raw)
    return raw.execute(_SETTLE, (now(), key)).rowcount == 1


def refund_sync(
    raw: SqlConnection,
    *,
    key: str,
    reason: str = Reason.REFUND,
    job_id: int | None = None,
    actor: str = "system",
) -> bool:
    """held -> refunded plus the credit back, inside the caller's transaction.

    False (and nothing changed) if the reservation is unknown or already ended.
    """
    require_transaction(raw)
    row = raw.execute(
        "UPDATE reservations SET status = 'refunded', updated_at = ? "
        "WHERE key = ? AND status = 'held' RETURNING user_id, amount",
        (now(), key),
    ).fetchone()
    if row is None:
        return False
    apply_movement_sync(
        raw, user_id=row[0], amount=row[1], reason=reason, op_id=refund_op_id(key), job_id=job_id, actor=actor
    )
    return True


class ReservationsRepo:
    """Each step is one round trip to the connection thread (the hot path of every generation)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- standalone -----------------------------------------------------------------------------

    async def reserve(self, user_id: int, amount: int, key: str, *, job_id: int | None = None) -> None:
        await self.db.run_in_transaction(reserve_sync, user_id=user_id, amount=amount, key=key, job_id=job_id)

    async def settle(self, key: str) -> bool:
        # One guarded UPDATE is atomic on its own: no BEGIN/COMMIT needed.
        return await self.db.execute(_SETTLE, (now(), key)) == 1

    async def refund(self, key: str, reason: str = Reason.REFUND, *, job_id: int | None = None) -> bool:
        return await self.db.run_in_transaction(refund_sync, key=key, reason=reason, job_id=job_id)

    async def get(self, key: str) -> ReservationRow | None:
        row = await self.db.fetchone(
            "SELECT key, user_id, amount, status, created_at, updated_at FROM reservations WHERE key = ?",
            (key,),
        )
        return ReservationRow(*row) if row else None
